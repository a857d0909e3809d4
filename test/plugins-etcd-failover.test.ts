/**
 * Three nodes of one service on the etcd registry under a running load: one is killed with
 * SIGKILL; no call fails beyond the retry budget and the dead node leaves the registry within
 * one TTL (etcd lease).
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { Service, silentLogger } from "@micro-ts/micro";
import { etcdRegistry } from "@micro-ts/etcd";
import { EtcdTestServer } from "../plugins/etcd/src/test-server.js";
import { startTs, type Child } from "./helpers.js";

const etcd = new EtcdTestServer();
const children: Child[] = [];
before(() => etcd.start());
after(async () => {
  for (const c of children) c.proc.kill("SIGKILL");
  await etcd.stop();
});

it("keeps serving when one of three etcd-registered nodes is killed under load", async () => {
  const TTL_S = 3;
  const env = { MICRO_REGISTRY: "etcd", MICRO_REGISTRY_ADDRESS: etcd.address, MICRO_BROKER: "memory", MICRO_REGISTER_TTL: String(TTL_S), MICRO_REGISTER_INTERVAL: "1", SERVICE_NAME: "etcd-failover" };
  const nodes = ["e1", "e2", "e3"].map((t) => startTs("test/fixtures/greeter-node.ts", { ...env, NODE_TAG: t }));
  children.push(...nodes);
  await Promise.all(nodes.map((c) => c.waitFor((l) => l["ready"] === true)));
  const registry = etcdRegistry({ hosts: etcd.address });
  const client = new Service({ name: "etcd-caller", registry, logger: silentLogger() });
  try {
    for (;;) {
      const n = (await registry.getService("etcd-failover").catch(() => [])).reduce((k, r) => k + r.nodes.length, 0);
      if (n === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    let ok = 0;
    let stop = false;
    const failures: unknown[] = [];
    const seen = new Set<string>();
    const worker = async () => {
      while (!stop) {
        try {
          const r = await client.client.call<{ node: string }>("etcd-failover", "Greeter.Hello", { name: "x" }, { retries: 2 });
          seen.add(r.node);
          ok++;
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const workers = Array.from({ length: 10 }, worker);
    while (ok < 1000) await new Promise((r) => setTimeout(r, 10));
    const killedAt = Date.now();
    nodes[0]!.proc.kill("SIGKILL");
    const before = ok;
    while (ok < before + 2000) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, [], "no call failed beyond the retry budget");
    assert.ok(seen.has("e2") && seen.has("e3"));
    // the lease of the dead node runs out: gone within one TTL (plus etcd's lease-check granularity)
    for (;;) {
      const n = (await registry.getService("etcd-failover")).reduce((k, r) => k + r.nodes.length, 0);
      if (n === 2) break;
      assert.ok(Date.now() - killedAt < TTL_S * 1000 + 1500, "dead node still registered after one TTL");
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await client.stop();
    await registry.close();
  }
});
