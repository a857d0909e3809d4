/**
 * `micro server` on real engines (etcd registry, NATS broker and JetStream events): the
 * platform's state lives in the engines, so it survives the loss of the server process.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { memoryStore, serviceBroker, serviceEvents, serviceRegistry, silentLogger } from "@micro-ts/micro";
import { etcdRegistry } from "@micro-ts/etcd";
import { natsBroker, natsEvents } from "@micro-ts/nats";
import { startServer } from "@micro-ts/server";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdTestServer } from "../plugins/etcd/src/test-server.js";

describe("micro server on etcd + NATS", () => {
  const etcd = new EtcdTestServer();
  const dataDir = mkdtempSync(join(tmpdir(), "micro-engines-"));
  before(() => etcd.start());
  after(async () => {
    await etcd.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const boot = (address = "127.0.0.1:0") =>
    startServer({
      dataDir,
      address,
      gatewayAddress: false,
      logger: silentLogger(),
      registry: etcdRegistry({ hosts: etcd.address }),
      broker: natsBroker({ servers: "127.0.0.1:4222" }),
      events: natsEvents({ servers: "127.0.0.1:4222" }),
      store: memoryStore(),
    });

  it("keeps registrations and events in the engines across a server restart", async () => {
    const name = `engines-${randomUUID().slice(0, 8)}`;
    const topic = `engines.${randomUUID().slice(0, 8)}`;
    let server = await boot();
    const address = server.address;
    const reg = serviceRegistry({ address });
    await reg.register({ name, version: "1", nodes: [{ id: `${name}-1`, address: "127.0.0.1:1" }] }, { ttl: 60_000 });
    const events = serviceEvents({ address });
    await events.publish(topic, { n: 1 });
    // the record went to etcd, not to the server's memory
    const direct = etcdRegistry({ hosts: etcd.address });
    assert.equal((await direct.getService(name))[0]?.nodes[0]?.id, `${name}-1`);

    await server.stop();
    server = await boot(address);
    try {
      assert.equal((await reg.getService(name))[0]?.nodes[0]?.id, `${name}-1`, "registration survived the restart");
      const got = await events.read(topic, { limit: 10 });
      assert.deepEqual(got.map((e) => e.payload), [{ n: 1 }], "acknowledged event survived the restart");
      // the broker routes through NATS: a subscriber on the engine sees a publish made through the server
      const nb = natsBroker({ servers: "127.0.0.1:4222" });
      let resolveSeen!: (s: string) => void;
      const seen = new Promise<string>((resolve) => (resolveSeen = resolve));
      await nb.subscribe(topic, (ev) => resolveSeen(Buffer.from(ev.body).toString()));
      const sb = serviceBroker({ address });
      await sb.publish(topic, { header: {}, body: Buffer.from("hi") });
      assert.equal(await seen, "hi");
      await sb.close();
      await nb.close();
    } finally {
      await reg.close();
      await events.close();
      await direct.close();
      await server.stop();
    }
  });
});
