// The mdns registry across real processes on this host (multicast pinned to 127.0.0.1):
// discovery, a goodbye on SIGTERM, expiry after the TTL on SIGKILL, and 3+ processes at once.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { MicroError } from "../packages/micro/src/errors/errors.js";
import { mdnsRegistry } from "../packages/micro/src/registry/mdns.js";
import type { RegistryEvent, Watcher } from "../packages/micro/src/registry/registry.js";

const root = new URL("..", import.meta.url).pathname;
const port = 40000 + Math.floor(Math.random() * 20000);
const domain = `p${randomBytes(4).toString("hex")}`;
const registry = mdnsRegistry({ interface: "127.0.0.1", port, domain });
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await registry.close();
});

interface Peer {
  child: ChildProcess;
  /** Resolves with the first stdout line that satisfies `pred`. */
  line(pred: (l: string) => boolean): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startPeer(name: string, id: string, ttl: number, watch?: string): Peer {
  const args = ["--conditions=micro-source", "--import", "tsx", "test/fixtures/mdns-service.ts"];
  args.push(String(port), domain, name, id, String(ttl), ...(watch ? [watch] : []));
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const seen: string[] = [];
  const waiters = new Set<{ pred: (l: string) => boolean; resolve: (l: string) => void }>();
  createInterface({ input: child.stdout! }).on("line", (l) => {
    seen.push(l);
    for (const w of waiters) if (w.pred(l)) (waiters.delete(w), w.resolve(l));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const line = (pred: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const had = seen.find(pred);
      if (had !== undefined) return resolve(had);
      waiters.add({ pred, resolve });
      void exited.then(() => reject(new Error(`peer ${id} exited before the expected line`)));
    });
  return { child, line, exited };
}

/** The next matching event, or a rejection after `ms`. */
async function nextEvent(
  w: Watcher,
  pred: (e: RegistryEvent) => boolean,
  ms: number,
): Promise<RegistryEvent> {
  const it = w[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>(
    (_, rej) => (timer = setTimeout(() => rej(new Error("no event in time")), ms)),
  );
  try {
    for (;;) {
      const r = await Promise.race([it.next(), deadline]);
      if (r.done) throw new Error("watcher ended");
      if (pred(r.value)) return r.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

const uniq = (p: string) => `${p}-${randomBytes(4).toString("hex")}`;
const isDelete = (id: string) => (e: RegistryEvent) =>
  e.action === "delete" && e.service.nodes[0]?.id === id;

describe("mdns registry across processes", () => {
  it("discovers a service in another process, which says goodbye on SIGTERM", async () => {
    const name = uniq("greeter");
    const w = registry.watch({ service: name });
    const peer = startPeer(name, `${name}-1`, 60_000);
    await peer.line((l) => l === "ready");
    const [svc] = await registry.getService(name);
    assert.equal(svc?.nodes[0]?.id, `${name}-1`);
    assert.equal(svc?.nodes[0]?.address, "127.0.0.1:9090");
    assert.equal(svc?.endpoints?.[0]?.name, "Greeter.Hello");
    assert.equal(svc?.metadata?.["pid"], String(peer.child.pid));

    const start = Date.now();
    peer.child.kill("SIGTERM");
    await nextEvent(w, isDelete(`${name}-1`), 5_000);
    w.stop();
    // Long before the 60s TTL: the node went because of the goodbye.
    assert.ok(Date.now() - start < 5_000);
    assert.equal((await peer.exited).code, 0);
    await assert.rejects(
      registry.getService(name),
      (e: unknown) => e instanceof MicroError && e.code === 404,
    );
  });

  it("expires the node of a SIGKILL'd process after its TTL", async () => {
    const name = uniq("killed");
    const ttl = 900;
    const w = registry.watch({ service: name });
    const peer = startPeer(name, `${name}-1`, ttl);
    await peer.line((l) => l === "ready");
    assert.equal((await registry.getService(name))[0]?.nodes.length, 1);
    const start = Date.now();
    peer.child.kill("SIGKILL");
    await peer.exited;
    await nextEvent(w, isDelete(`${name}-1`), ttl + 5_000);
    w.stop();
    const took = Date.now() - start;
    // Renewed every ttl/3, so at least ~2/3 of the TTL was left when it died; never more than all of it.
    assert.ok(took >= ttl / 2, `expired after ${took}ms, too early for a ${ttl}ms TTL`);
    assert.ok(took <= ttl + 1_000, `expired after ${took}ms, too late for a ${ttl}ms TTL`);
  });

  it("lets three processes and this one all see each other", async () => {
    const svc = uniq("shared");
    const other = uniq("other");
    const a = startPeer(svc, `${svc}-a`, 5_000);
    await a.line((l) => l === "ready");
    const b = startPeer(svc, `${svc}-b`, 5_000, svc);
    const c = startPeer(other, `${other}-c`, 5_000, svc);
    await Promise.all([b.line((l) => l === "ready"), c.line((l) => l === "ready")]);
    // b and c started after a: they find it by querying; c hears about b by announcement or query.
    await Promise.all([
      b.line((l) => l === `sees ${svc}-a`),
      c.line((l) => l === `sees ${svc}-a`),
      c.line((l) => l === `sees ${svc}-b`),
    ]);
    const got = await registry.getService(svc);
    assert.deepEqual(got[0]?.nodes.map((n) => n.id).sort(), [`${svc}-a`, `${svc}-b`]);
    const names = (await registry.listServices()).map((s) => s.name);
    assert.ok(names.includes(svc) && names.includes(other));
    for (const p of [a, b, c]) p.child.kill("SIGTERM");
    const exits = await Promise.all([a, b, c].map((p) => p.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0],
    );
  });
});
