import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "@micro-ts/server";
import { RpcClient } from "../client/rpc.js";
import { silentLogger } from "../logger/logger.js";
import { memoryRegistry } from "../registry/memory.js";
import { tcpTransport } from "../transport/tcp.js";
import { newConfig } from "./default.js";
import { serviceSource } from "./service.js";

const dir = mkdtempSync(join(tmpdir(), "micro-config-svc-"));
let server: RunningServer;
const admin = new RpcClient({ registry: memoryRegistry(), transport: tcpTransport() });
const set = (path: string, value: unknown) => admin.call("config", "Config.Set", { path, value }, { address: server.address });
before(async () => {
  server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
});
after(async () => {
  await admin.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("serviceSource", () => {
  it("reads the server's config document, or the subtree at its path", async () => {
    await set("greeter.db", { host: "db1", port: 5432 });
    const c = await newConfig({ sources: [serviceSource({ address: server.address, path: "greeter" })] });
    assert.equal(c.get("db.host").string(""), "db1");
    assert.equal(c.get("db.port").number(0), 5432);
    await c.close();
  });

  it("sees changes made on the server through its watch stream", async () => {
    await set("watched.level", "info");
    const c = await newConfig({ sources: [serviceSource({ address: server.address, path: "watched" })] });
    const changes = c.watch("level")[Symbol.asyncIterator]();
    const next = changes.next();
    // The watch stream opens in the background: keep setting until a change arrives.
    let v: string | undefined;
    for (let i = 0; !v; i++) {
      await set("watched.level", `debug-${i}`);
      const r = await Promise.race([next, new Promise<undefined>((res) => setTimeout(() => res(undefined), 50))]);
      if (r && !r.done) v = r.value.string("");
    }
    assert.match(v, /^debug-\d+$/);
    await c.close();
  });

  it("rejects a Config.Set without a value with 400", async () => {
    await assert.rejects(admin.call("config", "Config.Set", { path: "x" }, { address: server.address }), { code: 400 });
  });
});
