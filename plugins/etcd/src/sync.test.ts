import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { runSyncConformance } from "@micro-ts/micro/conformance";
import { etcdSync } from "./sync.js";
import { testEtcd } from "./test-server.js";

const etcd = await testEtcd();
after(() => etcd.stop());

// etcd leases are whole seconds (the test server's minimum is 1 s).
runSyncConformance({ name: "etcd", create: () => etcdSync({ hosts: etcd.address }), shortTTL: 1000 });

describe("etcd sync specifics", () => {
  it("two instances share one lock and one election", async (t) => {
    const a = etcdSync({ hosts: etcd.address });
    const b = etcdSync({ hosts: etcd.address });
    t.after(() => Promise.all([a.close(), b.close()]));
    const id = `shared-${randomUUID().slice(0, 8)}`;
    const unlock = await a.lock(id);
    await assert.rejects(b.lock(id, { wait: 0 }), (e: unknown) => (e as { code?: number }).code === 408);
    const waiting = b.lock(id, { wait: 10_000 });
    await unlock();
    await (await waiting)();

    const la = await a.leader(id, { ttl: 3000 });
    const lb = await b.leader(id, { ttl: 3000 });
    assert.equal(la.status(), "leader");
    assert.equal(lb.status(), "follower");
    const next = lb.elected();
    await a.close(); // closing resigns: the other instance leads at once
    await next;
    assert.equal(lb.status(), "leader");
  });
});
