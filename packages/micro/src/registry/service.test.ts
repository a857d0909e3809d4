import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "@micro-ts/server";
import { silentLogger } from "../logger/logger.js";
import { runRegistryConformance } from "./conformance.js";
import type { RegistryEvent } from "./registry.js";
import { serviceRegistry } from "./service.js";

// The registry core service runs in this process on the tcp transport; the client talks to it over TCP.
const dir = mkdtempSync(join(tmpdir(), "micro-registry-svc-"));
let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, sweepInterval: 50, logger: silentLogger() });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

runRegistryConformance({ name: "service", create: () => serviceRegistry({ address: server.address }), settle: 1000, minTTL: 200 });

describe("serviceRegistry", () => {
  it("lists the server's own core services", async () => {
    const r = serviceRegistry({ address: server.address });
    const names = (await r.listServices()).map((s) => s.name);
    for (const n of ["registry", "broker", "store", "config", "events"]) assert.ok(names.includes(n), n);
    await r.close();
  });

  it("rejects calls with 503 when no server listens and after close", async () => {
    const gone = await startServer({ dataDir: join(dir, "gone"), address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
    const address = gone.address;
    await gone.stop();
    const r = serviceRegistry({ address });
    await assert.rejects(r.listServices(), { code: 503 });
    await r.close();
    const closed = serviceRegistry({ address: server.address });
    await closed.close();
    await assert.rejects(closed.getService("x"), { code: 503 });
  });

  it("re-watches after the server restarts on the same address", async () => {
    const d = join(dir, "restart");
    let s = await startServer({ dataDir: d, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
    const address = s.address;
    const r = serviceRegistry({ address });
    const w = r.watch({ service: "svc-after" });
    const it = w[Symbol.asyncIterator]();
    await r.listServices(); // the watch is open once a call went through
    await s.stop();
    s = await startServer({ dataDir: d, address, gatewayAddress: false, logger: silentLogger() });
    // Register directly on the new server until the re-opened watch reports it.
    const record = { name: "svc-after", version: "1", nodes: [{ id: "n1", address: "127.0.0.1:1" }] };
    let ev: RegistryEvent | undefined;
    const next = it.next();
    while (!ev) {
      await s.registry.register(record);
      const r1 = await Promise.race([next, new Promise<undefined>((res) => setTimeout(() => res(undefined), 100))]);
      if (r1 && !r1.done) ev = r1.value;
    }
    assert.equal(ev.service.name, "svc-after");
    w.stop();
    await r.close();
    await s.stop();
  });
});
