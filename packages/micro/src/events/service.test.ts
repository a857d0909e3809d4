import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "@micro-ts/server";
import { silentLogger } from "../logger/logger.js";
import { runEventsConformance } from "./conformance.js";
import { serviceEvents } from "./service.js";

const dir = mkdtempSync(join(tmpdir(), "micro-events-svc-"));
let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

runEventsConformance({ name: "service", create: () => serviceEvents({ address: server.address }) });

describe("serviceEvents", () => {
  it("stores events in the server's log", async () => {
    const ev = serviceEvents({ address: server.address });
    const id = await ev.publish("svc.log", { a: 1 });
    const [e] = await server.events.read("svc.log");
    assert.equal(e?.id, id);
    assert.deepEqual(e?.payload, { a: 1 });
    await ev.close();
  });
});
