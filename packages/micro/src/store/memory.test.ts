import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runStoreConformance } from "./conformance.js";
import { memoryStore } from "./memory.js";

runStoreConformance({ name: "memory", create: () => memoryStore({ table: "svc" }) });

describe("memoryStore", () => {
  it("uses its own state per instance", async () => {
    const a = memoryStore();
    const b = memoryStore();
    await a.write({ key: "k", value: 1 });
    assert.deepEqual(await b.list(), []);
  });

  it("defaults to database micro and the given table", async () => {
    const s = memoryStore({ table: "greeter" });
    await s.write({ key: "k", value: 1 });
    assert.deepEqual(await s.databases(), ["micro"]);
    assert.deepEqual(await s.tables("micro"), ["greeter"]);
    assert.deepEqual(await s.list({ table: "greeter" }), ["k"]);
  });

  it("honours a configured maxValueSize", async () => {
    const s = memoryStore({ maxValueSize: 10 });
    await s.write({ key: "k", value: new Uint8Array(10) });
    await assert.rejects(s.write({ key: "k", value: new Uint8Array(11) }), { code: 413 });
  });

  it("rejects invalid options at construction", () => {
    assert.throws(() => memoryStore({ maxValueSize: 0 }));
    assert.throws(() => memoryStore({ table: "" }));
  });
});
