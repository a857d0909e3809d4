import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runSyncConformance } from "./conformance.js";
import { memorySync } from "./memory.js";

runSyncConformance({ name: "memory", create: () => memorySync(), shortTTL: 100 });

describe("memorySync", () => {
  it("keeps separate instances apart", async () => {
    const a = memorySync();
    const b = memorySync();
    await a.lock("x");
    await (await b.lock("x", { wait: 0 }))();
    await Promise.all([a.close(), b.close()]);
  });

  it("uses the configured default ttl", async () => {
    const s = memorySync({ ttl: 50 });
    await s.lock("x");
    const t0 = Date.now();
    await (await s.lock("x", { wait: 5_000 }))();
    assert.ok(Date.now() - t0 < 1_000);
    await s.close();
  });

  it("rejects invalid options with 400", async () => {
    assert.throws(() => memorySync({ ttl: 0 }), { code: 400 });
    const s = memorySync();
    await assert.rejects(s.lock("x", { ttl: -1 }), { code: 400 });
    await s.close();
  });
});
