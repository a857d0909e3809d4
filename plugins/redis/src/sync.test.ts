import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runSyncConformance } from "@micro-ts/micro/conformance";
import { Redis } from "ioredis";
import { redisSync } from "./sync.js";
import { dropNamespace, REDIS_URL, testNamespace } from "./test-env.js";

const namespace = testNamespace("sync");
runSyncConformance({ name: "redis", create: () => redisSync({ url: REDIS_URL, namespace }) });
after(() => dropNamespace(namespace));

describe("redis sync specifics", () => {
  it("holds a lock as one key with a PX expiry, deleted on unlock", async () => {
    const s = redisSync({ url: REDIS_URL, namespace });
    const r = new Redis(REDIS_URL);
    try {
      const unlock = await s.lock("layout", { ttl: 5000 });
      const ttl = await r.pttl(`${namespace}:sync:lock:layout`);
      assert.ok(ttl > 0 && ttl <= 5000);
      await unlock();
      assert.equal(await r.exists(`${namespace}:sync:lock:layout`), 0);
    } finally {
      await s.close();
      r.disconnect();
    }
  });
});
