import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "@micro-ts/server";
import { silentLogger } from "../logger/logger.js";
import { runStoreConformance } from "./conformance.js";
import { serviceStore } from "./service.js";

const dir = mkdtempSync(join(tmpdir(), "micro-store-svc-"));
let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

runStoreConformance({ name: "service", create: () => serviceStore({ address: server.address, table: "svc" }) });

describe("serviceStore", () => {
  it("keeps records in the server's store, under this store's database and table", async () => {
    const s = serviceStore({ address: server.address, database: "apps", table: "greeter" });
    await s.write({ key: "k", value: new Uint8Array([1, 2, 3]) });
    const [r] = await server.store.read("k", { database: "apps", table: "greeter" });
    assert.deepEqual(r?.value, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await s.tables("apps"), ["greeter"]);
    await s.close();
  });
});
