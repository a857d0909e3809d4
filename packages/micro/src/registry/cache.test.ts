import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import { cacheRegistry } from "./cache.js";
import { runRegistryConformance } from "./conformance.js";
import { memoryRegistry } from "./memory.js";
import type { Registry, ServiceRecord } from "./registry.js";

runRegistryConformance({
  name: "cache(memory)",
  create: () => cacheRegistry(memoryRegistry({ sweepInterval: 50 })),
  settle: 500,
  minTTL: 200,
});

function counting(inner: Registry): Registry & { lookups: number } {
  const r = Object.create(inner) as Registry & { lookups: number };
  r.lookups = 0;
  r.getService = (name: string) => {
    r.lookups++;
    return inner.getService(name);
  };
  return r;
}

const rec = (id: string): ServiceRecord => ({ name: "svc", version: "1", nodes: [{ id, address: `127.0.0.1:${id.length}` }] });

async function until(fn: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fn()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("condition not met");
}

describe("cache registry", () => {
  it("serves repeated lookups from memory and shares concurrent misses", async () => {
    const mem = memoryRegistry();
    const inner = counting(mem);
    const c = cacheRegistry(inner);
    await mem.register(rec("a"));
    await Promise.all([c.getService("svc"), c.getService("svc"), c.getService("svc")]);
    await c.getService("svc");
    assert.equal(inner.lookups, 1);
    await c.close();
    await mem.close();
  });

  it("follows watch events: new nodes appear and removed nodes vanish without a new lookup", async () => {
    const mem = memoryRegistry();
    const inner = counting(mem);
    const c = cacheRegistry(inner);
    await mem.register(rec("a"));
    await c.getService("svc");
    await mem.register(rec("b"));
    await until(async () => (await c.getService("svc"))[0]!.nodes.length === 2);
    await mem.deregister(rec("a"));
    await until(async () => (await c.getService("svc"))[0]!.nodes.map((n) => n.id).join() === "b");
    assert.equal(inner.lookups, 1);
    await mem.deregister(rec("b"));
    await until(async () => {
      try {
        await c.getService("svc");
        return false;
      } catch (e) {
        return e instanceof MicroError && e.code === 404;
      }
    });
    await c.close();
    await mem.close();
  });
});
