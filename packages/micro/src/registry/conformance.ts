/**
 * The shared registry suite: every implementation, in core or in a plugin, runs it.
 *   runRegistryConformance({ name: "memory", create: () => memoryRegistry() })
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import type { Registry, RegistryEvent, ServiceRecord, Watcher } from "./registry.js";

export interface RegistryConformanceOptions {
  name: string;
  create: () => Registry | Promise<Registry>;
  /** How long the implementation may take to make a change visible, in ms. @default 3000 */
  settle?: number;
  /** The smallest TTL the implementation honours, in ms. @default 1000 */
  minTTL?: number;
}

function record(name: string, nodeId: string, version = "1.0.0", port = 1000): ServiceRecord {
  return {
    name,
    version,
    metadata: { kind: "test" },
    endpoints: [
      {
        name: "Greeter.Hello",
        request: { name: "Request", type: "Request", values: [{ name: "name", type: "string" }] },
        response: { name: "Response", type: "Response", values: [{ name: "msg", type: "string" }] },
        metadata: { stream: "false" },
      },
    ],
    nodes: [{ id: nodeId, address: `127.0.0.1:${port}`, metadata: { transport: "tcp" } }],
  };
}

async function eventually<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      if (Date.now() > end) throw last;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

async function nextEvent(w: Watcher, pred: (e: RegistryEvent) => boolean, ms: number): Promise<RegistryEvent> {
  const it = w[Symbol.asyncIterator]();
  const deadline = new Promise<never>((_, rej) => {
    const t = setTimeout(() => rej(new Error("no matching registry event in time")), ms);
    t.unref();
  });
  for (;;) {
    const r = await Promise.race([it.next(), deadline]);
    if (r.done) throw new Error("watcher ended");
    if (pred(r.value)) return r.value;
  }
}

export function runRegistryConformance(opts: RegistryConformanceOptions): void {
  const settle = opts.settle ?? 3000;
  const minTTL = opts.minTTL ?? 1000;
  describe(`registry conformance: ${opts.name}`, () => {
    const open: Registry[] = [];
    const make = async () => {
      const r = await opts.create();
      open.push(r);
      return r;
    };
    after(async () => {
      await Promise.all(open.map((r) => r.close()));
    });
    const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

    it("registers a service and returns it with endpoints, metadata and nodes", async () => {
      const r = await make();
      const name = uniq("greeter");
      await r.register(record(name, `${name}-1`));
      const got = await eventually(() => r.getService(name), settle);
      assert.equal(got.length, 1);
      const s = got[0]!;
      assert.equal(s.name, name);
      assert.equal(s.version, "1.0.0");
      assert.equal(s.metadata?.["kind"], "test");
      assert.equal(s.nodes.length, 1);
      assert.equal(s.nodes[0]!.id, `${name}-1`);
      assert.equal(s.nodes[0]!.address, "127.0.0.1:1000");
      assert.equal(s.nodes[0]!.metadata?.["transport"], "tcp");
      assert.equal(s.endpoints?.[0]?.name, "Greeter.Hello");
      assert.equal(s.endpoints?.[0]?.request?.values?.[0]?.name, "name");
    });

    it("rejects getService of an unknown service with a 404", async () => {
      const r = await make();
      await assert.rejects(r.getService(uniq("nope")), (e: unknown) => e instanceof MicroError && e.code === 404);
    });

    it("keeps several nodes of one version and several versions apart", async () => {
      const r = await make();
      const name = uniq("multi");
      await r.register(record(name, `${name}-a`, "1.0.0", 1001));
      await r.register(record(name, `${name}-b`, "1.0.0", 1002));
      await r.register(record(name, `${name}-c`, "2.0.0", 1003));
      const got = await eventually(async () => {
        const s = await r.getService(name);
        const n = s.reduce((k, x) => k + x.nodes.length, 0);
        if (n !== 3) throw new Error(`want 3 nodes, have ${n}`);
        return s;
      }, settle);
      const v1 = got.find((s) => s.version === "1.0.0");
      const v2 = got.find((s) => s.version === "2.0.0");
      assert.deepEqual(v1?.nodes.map((n) => n.id).sort(), [`${name}-a`, `${name}-b`]);
      assert.deepEqual(v2?.nodes.map((n) => n.id), [`${name}-c`]);
    });

    it("re-registering a node is idempotent", async () => {
      const r = await make();
      const name = uniq("idem");
      await r.register(record(name, `${name}-1`));
      await r.register(record(name, `${name}-1`));
      const got = await eventually(() => r.getService(name), settle);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.nodes.length, 1);
    });

    it("deregisters one node and then the whole service", async () => {
      const r = await make();
      const name = uniq("dereg");
      await r.register(record(name, `${name}-a`, "1.0.0", 1001));
      await r.register(record(name, `${name}-b`, "1.0.0", 1002));
      await eventually(async () => {
        const n = (await r.getService(name))[0]!.nodes.length;
        if (n !== 2) throw new Error("not yet");
      }, settle);
      await r.deregister(record(name, `${name}-a`, "1.0.0", 1001));
      await eventually(async () => {
        const s = await r.getService(name);
        assert.deepEqual(s[0]!.nodes.map((n) => n.id), [`${name}-b`]);
      }, settle);
      await r.deregister(record(name, `${name}-b`, "1.0.0", 1002));
      await eventually(
        () => assert.rejects(r.getService(name), (e: unknown) => e instanceof MicroError && e.code === 404),
        settle,
      );
      // deregistering again is harmless
      await r.deregister(record(name, `${name}-b`, "1.0.0", 1002));
    });

    it("lists registered services", async () => {
      const r = await make();
      const a = uniq("list-a");
      const b = uniq("list-b");
      await r.register(record(a, `${a}-1`));
      await r.register(record(b, `${b}-1`));
      await eventually(async () => {
        const names = (await r.listServices()).map((s) => s.name);
        assert.ok(names.includes(a) && names.includes(b), `have ${names.join(",")}`);
      }, settle);
    });

    it("watch reports create and delete for the watched service only", async () => {
      const r = await make();
      const name = uniq("watched");
      const other = uniq("other");
      const w = r.watch({ service: name });
      try {
        await r.register(record(other, `${other}-1`));
        await r.register(record(name, `${name}-1`));
        const created = await nextEvent(w, (e) => e.action !== "delete", settle);
        assert.equal(created.service.name, name);
        assert.ok(created.action === "create" || created.action === "update");
        await r.deregister(record(name, `${name}-1`));
        const deleted = await nextEvent(w, (e) => e.action === "delete", settle);
        assert.equal(deleted.service.name, name);
        assert.equal(deleted.service.nodes[0]?.id, `${name}-1`);
      } finally {
        w.stop();
      }
    });

    it("stop() ends a watcher's iteration", async () => {
      const r = await make();
      const w = r.watch();
      const it = w[Symbol.asyncIterator]();
      const p = it.next();
      w.stop();
      const res = await p;
      assert.equal(res.done, true);
    });

    it("expires nodes after their TTL unless renewed", async () => {
      const r = await make();
      const name = uniq("ttl");
      const ttl = minTTL;
      await r.register(record(name, `${name}-1`), { ttl });
      await eventually(() => r.getService(name), settle);
      const start = Date.now();
      await eventually(
        () => assert.rejects(r.getService(name), (e: unknown) => e instanceof MicroError && e.code === 404),
        ttl * 3 + settle,
      );
      assert.ok(Date.now() - start >= ttl * 0.5, "expired too early");
    });

    it("returns copies: mutating a result does not change the registry", async () => {
      const r = await make();
      const name = uniq("copy");
      await r.register(record(name, `${name}-1`));
      const got = await eventually(() => r.getService(name), settle);
      got[0]!.nodes.length = 0;
      got[0]!.metadata!["kind"] = "mutated";
      const again = await r.getService(name);
      assert.equal(again[0]!.nodes.length, 1);
      assert.equal(again[0]!.metadata?.["kind"], "test");
    });
  });
}
