import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BrokerEvent } from "./broker.js";
import { runBrokerConformance } from "./conformance.js";
import { memoryBroker } from "./memory.js";

runBrokerConformance({ name: "memory", create: () => memoryBroker() });

describe("memory broker", () => {
  it("takes turns among a queue group's members", async () => {
    const b = memoryBroker();
    const counts = [0, 0, 0];
    let total = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    for (let i = 0; i < 3; i++) {
      await b.subscribe("t", () => {
        counts[i] = (counts[i] ?? 0) + 1;
        if (++total === 30) done();
      }, { queue: "g" });
    }
    for (let i = 0; i < 30; i++) await b.publish("t", { header: {}, body: new Uint8Array(0) });
    await all;
    assert.deepEqual(counts, [10, 10, 10]);
    await b.close();
  });

  it("never runs a handler inside publish's call stack", async () => {
    const b = memoryBroker();
    let ran = false;
    let delivered!: (ev: BrokerEvent) => void;
    const got = new Promise<BrokerEvent>((r) => (delivered = r));
    await b.subscribe("t", (ev) => {
      ran = true;
      delivered(ev);
      throw new Error("boom");
    });
    const p = b.publish("t", { header: {}, body: new Uint8Array([1]) });
    assert.equal(ran, false);
    await p;
    await got;
    assert.equal(ran, true);
    await b.close();
  });

  it("rejects a publish whose signal is already aborted", async () => {
    const b = memoryBroker();
    await assert.rejects(
      b.publish("t", { header: {}, body: new Uint8Array(0) }, { signal: AbortSignal.abort() }),
      (e: unknown) => e instanceof Error && e.name === "AbortError",
    );
    await b.close();
  });
});
