/**
 * The framework across real processes: discovery over mdns (on a port and domain of this
 * file's own), calls, streams, pub/sub, failover under load and graceful shutdown.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MicroError, mdnsRegistry, Service, silentLogger } from "@micro-ts/micro";
import { randomMdnsPort, startTs, type Child } from "./helpers.js";

const port = randomMdnsPort();
const domain = `core${port}`;
const env = { MICRO_MDNS_PORT: port, MICRO_MDNS_DOMAIN: domain, MICRO_MDNS_INTERFACE: "127.0.0.1", MICRO_REGISTER_TTL: "3", MICRO_REGISTER_INTERVAL: "1" };
const FIXTURE = "test/fixtures/greeter-node.ts";

const registry = mdnsRegistry({ port: Number(port), domain, interface: "127.0.0.1" });

function caller(name: string): Service {
  return new Service({
    name,
    registry,
    logger: silentLogger(),
    registerTTL: 3000,
  });
}

async function eventually<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe("services across processes", () => {
  const children: Child[] = [];
  const spawnNode = (extra: Record<string, string> = {}) => {
    const c = startTs(FIXTURE, { ...env, ...extra });
    children.push(c);
    return c;
  };
  let client: Service;
  before(async () => {
    client = caller("caller");
    await client.start();
  });
  after(async () => {
    await client.stop();
    await registry.close();
    for (const c of children) c.proc.kill("SIGKILL");
  });

  it("discovers a service in another process with no configuration and calls it", async () => {
    const g = spawnNode({ SERVICE_NAME: "disc", NODE_TAG: "d1" });
    await g.waitFor((l) => l["ready"] === true);
    const rsp = await eventually(() => client.client.call<{ msg: string; node: string }>("disc", "Greeter.Hello", { name: "Ada" }));
    assert.deepEqual(rsp, { msg: "Hello Ada", node: "d1" });
    // typed form, a MicroError across processes, and a stream
    const typed = client.client.service<{ hello(r: { name: string }): Promise<{ msg: string }>; count(r: { to: number }): AsyncGenerator<{ n: number }> }>("disc", "Greeter");
    assert.equal((await typed.hello({ name: "Bob" })).msg, "Hello Bob");
    await assert.rejects(typed.hello({ name: "" }), (e: unknown) => e instanceof MicroError && e.code === 400 && e.detail === "name is required");
    const got: number[] = [];
    for await (const x of typed.count({ to: 4 })) got.push(x.n);
    assert.deepEqual(got, [1, 2, 3, 4]);
  });

  it("breaking out of a stream cancels it in the server process", async () => {
    const g = spawnNode({ SERVICE_NAME: "streamer", NODE_TAG: "s1" });
    await g.waitFor((l) => l["ready"] === true);
    await eventually(() => client.client.call("streamer", "Greeter.Hello", { name: "x" }));
    for await (const x of client.client.stream<{ n: number }>("streamer", "Greeter.Count", { to: 100_000, delay: 1 })) {
      if (x.n === 2) break;
    }
    await g.waitFor((l) => l["streamCancelled"] === true);
  });

  it("delivers published messages: one per queue group, all to plain subscribers", async () => {
    const topic = `orders.${port}`;
    const q1 = spawnNode({ SERVICE_NAME: "sub-q", NODE_TAG: "q1", TOPIC: topic, QUEUE: "workers" });
    const q2 = spawnNode({ SERVICE_NAME: "sub-q", NODE_TAG: "q2", TOPIC: topic, QUEUE: "workers" });
    const f1 = spawnNode({ SERVICE_NAME: "sub-f", NODE_TAG: "f1", TOPIC: topic });
    const f2 = spawnNode({ SERVICE_NAME: "sub-f", NODE_TAG: "f2", TOPIC: topic });
    await Promise.all([q1, q2, f1, f2].map((c) => c.waitFor((l) => l["ready"] === true)));
    // wait until the publisher sees all four subscriptions
    await eventually(async () => {
      const [rec] = await client.registry.getService("micro.http.broker").then((rs) => [rs.flatMap((r) => r.nodes.filter((n) => n.metadata?.["topic"] === topic))]);
      if (rec!.length < 4) throw new Error(`have ${rec!.length} subscribers`);
    });
    const N = 20;
    for (let i = 0; i < N; i++) await client.publish(topic, { i });
    const count = (c: Child) => c.lines.filter((l) => l["message"] !== undefined).length;
    await f1.waitFor(() => count(f1) === N);
    await f2.waitFor(() => count(f2) === N);
    await eventually(async () => assert.equal(count(q1) + count(q2), N));
    assert.ok(count(q1) > 0 && count(q2) > 0, "the queue group shares the load");
    const seen = [...q1.lines, ...q2.lines].filter((l) => l["message"] !== undefined).map((l) => (l["message"] as { i: number }).i);
    assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), "each message exactly once in the group");
  });

  it("keeps serving when one of three nodes is killed with SIGKILL under load", async () => {
    const nodes = ["k1", "k2", "k3"].map((t) => spawnNode({ SERVICE_NAME: "failover", NODE_TAG: t }));
    await Promise.all(nodes.map((c) => c.waitFor((l) => l["ready"] === true)));
    await eventually(async () => {
      const rs = await client.registry.getService("failover");
      const n = rs.reduce((k, r) => k + r.nodes.length, 0);
      if (n !== 3) throw new Error(`have ${n} nodes`);
    });
    let ok = 0;
    const failures: unknown[] = [];
    const byNode = new Map<string, number>();
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const r = await client.client.call<{ node: string }>("failover", "Greeter.Hello", { name: "x" }, { retries: 2 });
          ok++;
          byNode.set(r.node, (byNode.get(r.node) ?? 0) + 1);
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const workers = Array.from({ length: 20 }, worker);
    while (ok < 2000) await new Promise((r) => setTimeout(r, 10));
    nodes[0]!.proc.kill("SIGKILL");
    const before = ok;
    while (ok < before + 3000) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, [], "no call failed beyond the retry budget");
    assert.ok((byNode.get("k2") ?? 0) > 0 && (byNode.get("k3") ?? 0) > 0);
    // the dead node leaves the registry within its TTL (3 s) plus slack
    const watcher = mdnsRegistry({ port: Number(port), domain, interface: "127.0.0.1" });
    try {
      await eventually(async () => {
        const rs = await watcher.getService("failover");
        const n = rs.reduce((k, r) => k + r.nodes.length, 0);
        if (n !== 2) throw new Error(`have ${n} nodes`);
      }, 8000);
    } finally {
      await watcher.close();
    }
  });

  it("on SIGTERM deregisters, finishes in-flight calls and exits 0", async () => {
    const g = spawnNode({ SERVICE_NAME: "graceful", NODE_TAG: "g1" });
    const ready = await g.waitFor((l) => l["ready"] === true);
    await eventually(() => client.client.call("graceful", "Greeter.Hello", { name: "x" }));
    const call = client.client.call<{ done: boolean; node: string }>("graceful", "Greeter.Slow", { ms: 400 }, { timeout: 5000, retries: 0 });
    await g.waitFor((l) => l["slowStarted"] === true);
    g.proc.kill("SIGTERM");
    assert.deepEqual(await call, { done: true, node: "g1" });
    assert.equal(await g.exited, 0);
    // gone from the registry (a goodbye, not a TTL expiry)
    const fresh = mdnsRegistry({ port: Number(port), domain, interface: "127.0.0.1" });
    try {
      await assert.rejects(fresh.getService("graceful"), (e: unknown) => e instanceof MicroError && e.code === 404);
    } finally {
      await fresh.close();
    }
    assert.ok(ready["id"]);
  });
});
