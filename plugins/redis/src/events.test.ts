import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runEventsConformance } from "@micro-ts/micro/conformance";
import { Redis } from "ioredis";
import { redisEvents } from "./events.js";
import { dropNamespace, REDIS_URL, testNamespace } from "./test-env.js";

const namespace = testNamespace("events");
runEventsConformance({ name: "redis streams", create: () => redisEvents({ url: REDIS_URL, namespace }) });
after(() => dropNamespace(namespace));

describe("redis events specifics", () => {
  it("stores event n of a topic as stream entry n-0 with its fields", async () => {
    const own = `${namespace}-layout`;
    const ev = redisEvents({ url: REDIS_URL, namespace: own });
    const r = new Redis(REDIS_URL);
    try {
      const id = await ev.publish("layout", { a: 1 }, { metadata: { k: "v" } });
      await ev.publish("layout", new Uint8Array([1]));
      const entries = await r.xrange(`${own}:events:layout`, "-", "+");
      assert.deepEqual(entries.map((e) => e[0]), ["1-0", "2-0"]);
      const f = entries[0]![1];
      assert.equal(f[f.indexOf("id") + 1], id);
      assert.equal(f[f.indexOf("k") + 1], "j");
      assert.equal(f[f.indexOf("p") + 1], '{"a":1}');
      assert.deepEqual(await ev.topics(), ["layout"]);
    } finally {
      await ev.close();
      r.disconnect();
      await dropNamespace(own);
    }
  });
});
