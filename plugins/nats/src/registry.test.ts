import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { MicroError, type RegistryEvent } from "@micro-ts/micro";
import { runRegistryConformance } from "@micro-ts/micro/conformance";
import { connect } from "nats";
import { encodeName } from "./names.js";
import { natsRegistry } from "./registry.js";
import { NATS_ADDRESS } from "./test-env.js";

// A bucket per run, removed afterwards: reruns never see an earlier run's records.
const bucket = `micro-registry-test-${randomUUID().slice(0, 8)}`;

runRegistryConformance({
  name: "nats kv",
  create: () => natsRegistry({ servers: NATS_ADDRESS, bucket, storage: "memory" }),
});

after(async () => {
  const nc = await connect({ servers: NATS_ADDRESS });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  await nc.close();
});

describe("nats registry specifics", () => {
  const record = (name: string, id: string) => ({ name, version: "1", nodes: [{ id, address: "127.0.0.1:1", metadata: {} }] });

  it("keeps one go-micro record per node under <service>.<node-id> in the bucket", async () => {
    const r = natsRegistry({ servers: NATS_ADDRESS, bucket, storage: "memory" });
    const nc = await connect({ servers: NATS_ADDRESS });
    try {
      const name = `go.micro.srv.${randomUUID().slice(0, 8)}`;
      await r.register(record(name, "n-1"), { ttl: 60_000 });
      const kv = await nc.jetstream().views.kv(bucket);
      const e = await kv.get(`${encodeName(name)}.${encodeName("n-1")}`);
      assert.ok(e);
      const v = e.json<{ name: string; version: string; nodes: { id: string }[]; expires: number }>();
      assert.equal(v.name, name);
      assert.deepEqual(v.nodes.map((n) => n.id), ["n-1"]);
      assert.ok(v.expires > Date.now());
    } finally {
      await r.close();
      await nc.close();
    }
  });

  it("a watcher reports delete when a node's TTL passes without a renewal or deregister", async () => {
    const owner = natsRegistry({ servers: NATS_ADDRESS, bucket, storage: "memory" });
    const observer = natsRegistry({ servers: NATS_ADDRESS, bucket, storage: "memory" });
    try {
      const name = `ttl-watch-${randomUUID().slice(0, 8)}`;
      const w = observer.watch({ service: name });
      const it = w[Symbol.asyncIterator]();
      await owner.register(record(name, "n-1"), { ttl: 500 });
      await owner.close(); // the node "dies": nobody renews or deregisters it
      // The watcher learns the node (as a create, or as initial state if it started after the
      // put: no order holds across connections); its delete must come all the same.
      const start = Date.now();
      let deleted = (await it.next()).value as RegistryEvent;
      if (deleted.action === "create") deleted = (await it.next()).value as RegistryEvent;
      assert.equal(deleted.action, "delete");
      assert.equal(deleted.service.nodes[0]?.id, "n-1");
      assert.ok(Date.now() - start < 500 + 1000, "gone within about one TTL");
      await assert.rejects(observer.getService(name), (e: unknown) => e instanceof MicroError && e.code === 404);
      w.stop();
    } finally {
      await Promise.all([owner.close(), observer.close()]);
    }
  });
});
