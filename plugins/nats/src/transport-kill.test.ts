/**
 * Three nodes of one service, each in its own process, on the NATS transport and the NATS
 * registry, under a running load from this process; one is SIGKILLed. No call fails beyond
 * the retry budget, and the dead node leaves the registry within one TTL.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MicroError, Service, type RegistryEvent } from "@micro-ts/micro";
import { connect } from "nats";
import { natsRegistry } from "./registry.js";
import { NATS_ADDRESS } from "./test-env.js";
import { natsTransport } from "./transport.js";

const here = (f: string) => JSON.stringify(fileURLToPath(new URL(f, import.meta.url)));

/** A node in its own process; prints "ready <node id>" once it is registered. */
function nodeProcess(name: string, bucket: string, ttl: number, n: number): ChildProcess {
  const code = `
    import { Service } from "@micro-ts/micro";
    import { natsRegistry } from ${here("./registry.ts")};
    import { natsTransport } from ${here("./transport.ts")};
    const servers = ${JSON.stringify(NATS_ADDRESS)};
    const s = new Service({
      name: ${JSON.stringify(name)},
      transport: natsTransport({ servers, heartbeat: 250 }),
      registry: natsRegistry({ servers, bucket: ${JSON.stringify(bucket)} }),
      registerTTL: ${ttl},
    });
    class Echo { async hello(req) { return { node: ${n}, n: req.n }; } }
    s.handle(new Echo());
    await s.start();
    process.stdout.write("ready " + s.id + "\\n");`;
  return spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, MICRO_BROKER: "memory", MICRO_STORE: "memory", MICRO_EVENTS: "memory" },
  });
}

describe("nats transport: a node is SIGKILLed under load", () => {
  it("three nodes; calls keep succeeding within the retry budget and the dead node leaves the registry within one TTL", async (t) => {
    const ttl = 3000;
    const name = `kill-${randomUUID().slice(0, 8)}`;
    const bucket = `micro-test-${randomUUID().slice(0, 8)}`;
    const procs = [0, 1, 2].map((n) => nodeProcess(name, bucket, ttl, n));
    const observer = natsRegistry({ servers: NATS_ADDRESS, bucket });
    // What a Service is given, the giver closes (see docs/service.md).
    const clientRegistry = natsRegistry({ servers: NATS_ADDRESS, bucket });
    const client = new Service({
      name: `${name}-client`,
      transport: natsTransport({ servers: NATS_ADDRESS, heartbeat: 250 }),
      registry: clientRegistry,
      callDefaults: { retries: 2, timeout: 5000 },
    });
    t.after(async () => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await client.stop();
      await clientRegistry.close();
      await observer.close();
      const nc = await connect({ servers: NATS_ADDRESS });
      await (await nc.jetstreamManager()).streams.delete(`KV_${bucket}`).catch(() => undefined);
      await nc.close();
    });
    const ids = await Promise.all(
      procs.map(
        (p, i) =>
          new Promise<string>((resolve, reject) => {
            p.once("exit", (c) => reject(new Error(`node ${i} exited (${c})`)));
            createInterface({ input: p.stdout! }).once("line", (l) => resolve(l.split(" ")[1]!));
          }),
      ),
    );
    const nodes = (await observer.getService(name))[0]?.nodes ?? [];
    // Compared as sets: the registry has been seen to list a just-registered node twice.
    const idsOf = (ns: { id: string }[]) => [...new Set(ns.map((n) => n.id))].sort();
    assert.deepEqual(idsOf(nodes), [...ids].sort());
    assert.ok(nodes.every((n) => n.address.startsWith("nats:")), "nodes register their NATS subjects");

    // A running load: 16 callers in a loop until told to stop.
    const seen = new Set<number>();
    let ok = 0;
    const failed: unknown[] = [];
    let stop = false;
    let reached: () => void = () => {};
    const warm = new Promise<void>((r) => (reached = r));
    const caller = async () => {
      for (let n = 0; !stop; n++) {
        try {
          const rsp = await client.client.call<{ node: number; n: number }>(name, "Echo.Hello", { n });
          assert.equal(rsp.n, n);
          seen.add(rsp.node);
          if (++ok === 300) reached();
        } catch (e) {
          failed.push(e);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, caller));
    await warm;
    assert.equal(seen.size, 3, "the load reaches all three nodes");

    const w = observer.watch({ service: name });
    const it = w[Symbol.asyncIterator]();
    const victim = procs[1]!;
    const exited = new Promise((r) => victim.once("exit", r));
    const killedAt = Date.now();
    victim.kill("SIGKILL");
    await exited;
    const okAtKill = ok;
    let ev: RegistryEvent;
    do ev = (await it.next()).value as RegistryEvent;
    while (ev.action !== "delete");
    const goneAfter = Date.now() - killedAt;
    w.stop();
    assert.equal(ev.service.nodes[0]?.id, ids[1]);
    assert.ok(goneAfter <= ttl + 250, `gone ${goneAfter} ms after the kill (ttl ${ttl} ms)`);

    stop = true;
    await load;
    assert.deepEqual(
      failed.map((e) => (e instanceof MicroError ? e.code : String(e))),
      [],
      "no call failed beyond the retry budget",
    );
    assert.ok(ok > okAtKill, "calls went on after the kill");
    assert.deepEqual(idsOf((await observer.getService(name))[0]?.nodes ?? []), [ids[0]!, ids[2]!].sort());
  });
});
