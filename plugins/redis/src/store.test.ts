import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runStoreConformance } from "@micro-ts/micro/conformance";
import { Redis } from "ioredis";
import { redisStore } from "./store.js";
import { dropNamespace, REDIS_URL, testNamespace } from "./test-env.js";

const namespace = testNamespace("store");
runStoreConformance({ name: "redis", create: () => redisStore({ url: REDIS_URL, namespace }) });
after(() => dropNamespace(namespace));

describe("redis store specifics", () => {
  it("keeps a record as a hash with a Redis TTL and indexes its key for prefix listing", async () => {
    const s = redisStore({ url: REDIS_URL, namespace, table: "layout:t" });
    const r = new Redis(REDIS_URL);
    try {
      await s.write({ key: "a:b", value: { x: 1 }, expiry: 60_000 });
      const key = `${namespace}:store:micro:layout%3At:r:a:b`;
      assert.deepEqual(await r.hget(key, "k"), "j");
      const ttl = await r.pttl(key);
      assert.ok(ttl > 50_000 && ttl <= 60_000);
      assert.deepEqual(await r.zrange(`${namespace}:store:micro:layout%3At:i`, 0, -1), ["a:b"]);
      assert.ok((await s.tables("micro")).includes("layout:t"));
    } finally {
      await s.close();
      r.disconnect();
    }
  });

  it("treats LIKE and glob characters in a prefix literally", async () => {
    const s = redisStore({ url: REDIS_URL, namespace, table: "wild" });
    try {
      for (const k of ["a%1", "a_2", "ab", "a*c", "a[d"]) await s.write({ key: k, value: 1 });
      assert.deepEqual(await s.list({ prefix: "a%" }), ["a%1"]);
      assert.deepEqual(await s.list({ prefix: "a_" }), ["a_2"]);
      assert.deepEqual(await s.list({ prefix: "a*" }), ["a*c"]);
      assert.deepEqual(await s.list({ prefix: "a[" }), ["a[d"]);
    } finally {
      await s.close();
    }
  });
});
