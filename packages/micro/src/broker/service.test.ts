import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "@micro-ts/server";
import { silentLogger } from "../logger/logger.js";
import type { BrokerEvent } from "./broker.js";
import { runBrokerConformance } from "./conformance.js";
import { serviceBroker } from "./service.js";

const dir = mkdtempSync(join(tmpdir(), "micro-broker-svc-"));
let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

runBrokerConformance({
  name: "service",
  create: () => serviceBroker({ address: server.address }),
  createPair: async () => [serviceBroker({ address: server.address }), serviceBroker({ address: server.address })],
});

describe("serviceBroker", () => {
  it("re-subscribes after the server restarts on the same address", async () => {
    const d = join(dir, "restart");
    let s = await startServer({ dataDir: d, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
    const address = s.address;
    const sub = serviceBroker({ address });
    const pub = serviceBroker({ address });
    let got!: (ev: BrokerEvent) => void;
    const first = new Promise<BrokerEvent>((r) => (got = r));
    await sub.subscribe("after.restart", (ev) => got(ev), { queue: "q" });
    await s.stop();
    s = await startServer({ dataDir: d, address, gatewayAddress: false, logger: silentLogger() });
    // Publish until the re-opened subscription receives one (it reconnects with backoff).
    let received: BrokerEvent | undefined;
    void first.then((ev) => (received = ev));
    while (!received) {
      await pub.publish("after.restart", { header: { n: "1" }, body: new Uint8Array([1]) }).catch(() => {});
      await Promise.race([first, new Promise((r) => setTimeout(r, 50))]);
    }
    assert.equal(received.header["n"], "1");
    await sub.close();
    await pub.close();
    await s.stop();
  });
});
