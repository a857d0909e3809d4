import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { MicroError, type RegistryEvent } from "@micro-ts/micro";
import { runRegistryConformance } from "@micro-ts/micro/conformance";
import { Etcd3 } from "etcd3";
import { etcdRegistry } from "./registry.js";
import { testEtcd } from "./test-server.js";

const etcd = await testEtcd();
after(() => etcd.stop());

runRegistryConformance({ name: "etcd", create: () => etcdRegistry({ hosts: etcd.address }) });

describe("etcd registry specifics", () => {
  const record = (name: string, id: string) => ({
    name,
    version: "1.0.0",
    metadata: { a: "b" },
    endpoints: [{ name: "Greeter.Hello", request: { name: "Req", type: "Req", values: [] }, response: null, metadata: {} }],
    nodes: [{ id, address: "127.0.0.1:1", metadata: { registry: "etcd" } }],
  });

  it("keeps one go-micro JSON record per node under /micro/registry/{service}/{node}", async (t) => {
    const r = etcdRegistry({ hosts: etcd.address });
    const raw = new Etcd3({ hosts: etcd.address });
    t.after(async () => {
      await r.close();
      raw.close();
    });
    const name = `go.micro.srv.${randomUUID().slice(0, 8)}`;
    await r.register(record(name, "n-1"), { ttl: 60_000 });
    const v = JSON.parse((await raw.get(`/micro/registry/${name}/n-1`).string()) ?? "null") as Record<string, unknown>;
    assert.deepEqual(Object.keys(v).sort(), ["endpoints", "metadata", "name", "nodes", "version"]);
    assert.equal(v["name"], name);
    assert.deepEqual(v["nodes"], [{ id: "n-1", address: "127.0.0.1:1", metadata: { registry: "etcd" } }]);
    // The registration is attached to a lease of (about) its TTL.
    const kv = (await raw.get(`/micro/registry/${name}/n-1`).exec()).kvs[0]!;
    assert.notEqual(kv.lease, "0");
    const lease = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
    assert.equal(lease.grantedTTL, "60");
  });

  it("reads records a go-micro service wrote (same key layout and JSON)", async (t) => {
    const r = etcdRegistry({ hosts: etcd.address });
    const raw = new Etcd3({ hosts: etcd.address });
    t.after(async () => {
      await r.close();
      raw.close();
    });
    const name = `go-svc-${randomUUID().slice(0, 8)}`;
    // As go-micro's etcd registry encodes a registry.Service with one node.
    const goJSON = `{"name":"${name}","version":"latest","metadata":null,"endpoints":[],"nodes":[{"id":"${name}-uuid","address":"10.0.0.1:8080","metadata":{"protocol":"grpc"}}]}`;
    await raw.put(`/micro/registry/${name}/${name}-uuid`).value(goJSON);
    const got = await r.getService(name);
    assert.equal(got[0]?.nodes[0]?.address, "10.0.0.1:8080");
    assert.equal(got[0]?.nodes[0]?.metadata?.["protocol"], "grpc");
    await raw.delete().key(`/micro/registry/${name}/${name}-uuid`);
  });

  it("renews by re-registering on the same lease; an unrenewed node is deleted and watchers hear it", async (t) => {
    const owner = etcdRegistry({ hosts: etcd.address });
    const observer = etcdRegistry({ hosts: etcd.address });
    const raw = new Etcd3({ hosts: etcd.address });
    t.after(async () => {
      await Promise.all([owner.close(), observer.close()]);
      raw.close();
    });
    const name = `renew-${randomUUID().slice(0, 8)}`;
    const w = observer.watch({ service: name });
    const it = w[Symbol.asyncIterator]();
    await owner.register(record(name, "n-1"), { ttl: 1000 });
    const lease1 = (await raw.get(`/micro/registry/${name}/n-1`).exec()).kvs[0]!.lease;
    await owner.register(record(name, "n-1"), { ttl: 1000 });
    const lease2 = (await raw.get(`/micro/registry/${name}/n-1`).exec()).kvs[0]!.lease;
    assert.equal(lease2, lease1, "a renewal keeps the lease");
    const created = (await it.next()).value as RegistryEvent;
    assert.equal(created.action, "create");
    await owner.close(); // nobody renews any more
    const start = Date.now();
    const deleted = (await it.next()).value as RegistryEvent;
    assert.equal(deleted.action, "delete");
    assert.equal(deleted.service.nodes[0]?.id, "n-1");
    assert.ok(Date.now() - start < 1000 + 1000, `gone after ${Date.now() - start} ms`);
    await assert.rejects(observer.getService(name), (e: unknown) => e instanceof MicroError && e.code === 404);
    w.stop();
  });

  it("a watch without a service sees every service; the prefix does not match longer names", async (t) => {
    const r = etcdRegistry({ hosts: etcd.address });
    t.after(() => r.close());
    const name = `pfx-${randomUUID().slice(0, 8)}`;
    const w = r.watch({ service: name });
    const all = r.watch();
    const itw = w[Symbol.asyncIterator]();
    const ita = all[Symbol.asyncIterator]();
    await r.register(record(`${name}-longer`, "x"));
    await r.register(record(name, "y"));
    assert.equal(((await ita.next()).value as RegistryEvent).service.name, `${name}-longer`);
    assert.equal(((await itw.next()).value as RegistryEvent).service.name, name);
    await assert.rejects(r.getService(name.slice(0, -1)), (e: unknown) => e instanceof MicroError && e.code === 404);
    await r.deregister(record(`${name}-longer`, "x"));
    await r.deregister(record(name, "y"));
    w.stop();
    all.stop();
  });
});
