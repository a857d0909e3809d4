/**
 * Failure behaviour against real processes: an unreachable etcd, and a registered node
 * whose process is SIGKILLed (its lease runs out; the node disappears for everyone).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MicroError, newConfig, type RegistryEvent } from "@micro-ts/micro";
import { etcdConfigSource } from "./config.js";
import { etcdRegistry } from "./registry.js";
import { etcdSync } from "./sync.js";
import { testEtcd, unusedPort } from "./test-server.js";

const unavailable = (address: string) => (e: unknown) =>
  e instanceof MicroError && e.code === 503 && e.detail.includes(address) && /etcd/.test(e.detail);

describe("etcd faults: engine unreachable at start", () => {
  it("fails registry, sync and config with a 503 naming etcd and the address when nothing listens", async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const o = { hosts: address, timeout: 1000 };
    const registry = etcdRegistry(o);
    const sync = etcdSync(o);
    const source = etcdConfigSource(o);
    const start = Date.now();
    await assert.rejects(registry.getService("x"), unavailable(address));
    await assert.rejects(registry.register({ name: "x", version: "1", nodes: [] }), unavailable(address));
    await assert.rejects(sync.lock("x"), unavailable(address));
    await assert.rejects(newConfig({ sources: [source] }), unavailable(address));
    assert.ok(Date.now() - start < 4 * 1000, "each attempt ends within its timeout");
    await Promise.all([registry.close(), sync.close(), source.close()]);
  });

  it("gives up within the configured timeout when the address accepts but never answers", async () => {
    const accepted = new Set<Socket>();
    const silent = createServer((sock) => accepted.add(sock));
    const port = await new Promise<number>((r) => silent.listen(0, "127.0.0.1", () => r((silent.address() as { port: number }).port)));
    const address = `127.0.0.1:${port}`;
    const registry = etcdRegistry({ hosts: address, timeout: 500 });
    try {
      const start = Date.now();
      await assert.rejects(registry.listServices(), unavailable(address));
      const took = Date.now() - start;
      assert.ok(took < 500 + 1500, `gave up after ${took} ms`);
    } finally {
      await registry.close();
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

const registryModule = fileURLToPath(new URL("./registry.ts", import.meta.url));

/**
 * A node in its own process: registers `name`/`id` with `ttl` ms and re-registers every
 * ttl/3 (as a service's register interval does), printing "renewed" after each.
 */
function nodeProcess(address: string, name: string, id: string, ttl: number): ChildProcess {
  const code = `
    import { etcdRegistry } from ${JSON.stringify(registryModule)};
    const r = etcdRegistry({ hosts: ${JSON.stringify(address)} });
    const rec = { name: ${JSON.stringify(name)}, version: "1", nodes: [{ id: ${JSON.stringify(id)}, address: "127.0.0.1:1" }] };
    for (;;) {
      await r.register(rec, { ttl: ${ttl} });
      process.stdout.write("renewed\\n");
      await new Promise((res) => setTimeout(res, ${Math.floor(ttl / 3)}));
    }`;
  return spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

describe("etcd faults: a node is SIGKILLed", () => {
  it("three nodes in three processes; the killed one disappears from other clients within one TTL", async (t) => {
    const etcd = await testEtcd();
    const ttl = 2000;
    const name = `kill-${randomUUID().slice(0, 8)}`;
    const observer = etcdRegistry({ hosts: etcd.address });
    const other = etcdRegistry({ hosts: etcd.address });
    const procs = ["n-0", "n-1", "n-2"].map((id) => nodeProcess(etcd.address, name, id, ttl));
    t.after(async () => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await Promise.all([observer.close(), other.close()]);
      await etcd.stop();
    });
    const lastRenewal = procs.map(() => 0);
    const firstRenewal = procs.map(
      (p, i) =>
        new Promise<void>((resolve, reject) => {
          p.once("exit", (c) => reject(new Error(`node ${i} exited (${c})`)));
          createInterface({ input: p.stdout! }).on("line", () => {
            lastRenewal[i] = Date.now();
            resolve();
          });
        }),
    );
    await Promise.all(firstRenewal);
    const w = observer.watch({ service: name });
    const it = w[Symbol.asyncIterator]();
    // Every client sees the three nodes.
    for (const r of [observer, other]) {
      assert.deepEqual((await r.getService(name))[0]?.nodes.map((n) => n.id).sort(), ["n-0", "n-1", "n-2"]);
    }

    const victim = procs[1]!;
    const killed = new Promise((r) => victim.once("exit", r));
    victim.kill("SIGKILL");
    await killed;
    const renewedAt = lastRenewal[1]!;
    let ev: RegistryEvent;
    do ev = (await it.next()).value as RegistryEvent;
    while (ev.action !== "delete");
    const gone = Date.now() - renewedAt;
    assert.equal(ev.service.nodes[0]?.id, "n-1");
    // etcd revokes expired leases on a 500 ms sweep: allow that on top of the TTL.
    assert.ok(gone <= ttl + 600, `gone ${gone} ms after its last renewal (ttl ${ttl} ms)`);
    for (const r of [observer, other]) {
      assert.deepEqual((await r.getService(name))[0]?.nodes.map((n) => n.id).sort(), ["n-0", "n-2"]);
    }
    w.stop();
  });
});
