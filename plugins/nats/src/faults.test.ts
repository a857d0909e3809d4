/**
 * Failure behaviour against real processes: an unreachable engine, and a NATS server that
 * goes away and comes back. The restart test runs its own nats-server (a random port, its
 * own store directory), never the shared one other test files use.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MicroError, type BrokerEvent, type Event } from "@micro-ts/micro";
import { natsBroker } from "./broker.js";
import { natsEvents } from "./events.js";
import { natsRegistry } from "./registry.js";

const NATS_SERVER = process.env["NATS_SERVER_BIN"] ?? "/usr/sbin/nats-server";

function listen(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });
}

/** A port nothing listens on (bound by the OS, then released). */
async function unusedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const unavailable = (address: string) => (e: unknown) =>
  e instanceof MicroError && e.code === 503 && e.detail.includes(address) && /NATS/.test(e.detail);

describe("nats faults: engine unreachable at start", () => {
  it("fails every component with a 503 naming NATS and the address when nothing listens", async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const o = { servers: address, timeout: 1000 };
    const broker = natsBroker(o);
    const events = natsEvents(o);
    const registry = natsRegistry(o);
    const start = Date.now();
    await assert.rejects(broker.connect(), unavailable(address));
    await assert.rejects(events.publish("t", 1), unavailable(address));
    await assert.rejects(registry.getService("x"), unavailable(address));
    assert.ok(Date.now() - start < 3 * 1000, "each attempt ends within its timeout");
    await Promise.all([broker.close(), events.close(), registry.close()]);
  });

  it("gives up within the configured timeout when the address accepts but never answers", async () => {
    // A TCP listener that never speaks the NATS protocol: the client waits for INFO in vain.
    const accepted = new Set<Socket>();
    const silent = createServer((sock) => accepted.add(sock));
    const port = await listen(silent);
    const address = `127.0.0.1:${port}`;
    const broker = natsBroker({ servers: address, timeout: 500 });
    try {
      const start = Date.now();
      await assert.rejects(broker.connect(), unavailable(address));
      const took = Date.now() - start;
      assert.ok(took < 500 + 1500, `gave up after ${took} ms`);
    } finally {
      await broker.close();
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

/** A private nats-server with JetStream, stopped and started on the same port. */
class PrivateServer {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "micro-nats-"));
  constructor(readonly port: number) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the server; resolves once it logs that it is ready for clients. */
  start(): Promise<void> {
    const p = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = p;
    return new Promise((resolve, reject) => {
      let log = "";
      const onData = (b: Buffer) => {
        log += b.toString();
        if (log.includes("Server is ready")) {
          p.stderr!.off("data", onData);
          p.stderr!.resume();
          resolve();
        }
      };
      p.stderr!.on("data", onData);
      p.once("exit", (code) => reject(new Error(`nats-server exited (${code}) before ready: ${log}`)));
      p.once("error", reject);
    });
  }

  /** Stops the server (SIGTERM: JetStream flushes its store) and waits for the process to exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves with the next value `it` yields, or rejects after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

describe("nats faults: server restart", () => {
  it("resumes broker subscriptions and consumes JetStream events acknowledged before the restart", async () => {
    const server = new PrivateServer(await unusedPort());
    await server.start();
    const o = { servers: server.address, reconnectTimeWait: 100, timeout: 2000 };
    const pub = natsBroker(o);
    const sub = natsBroker(o);
    const events = natsEvents(o);
    try {
      // Broker: a live subscription before the restart.
      const topic = `restart.${randomUUID()}`;
      const got: BrokerEvent[] = [];
      let notify: (() => void) | undefined;
      await sub.subscribe(topic, (ev) => {
        got.push(ev);
        notify?.();
      });
      const nextDelivery = () => new Promise<void>((r) => (notify = r));
      let d = nextDelivery();
      await pub.publish(topic, { header: { n: "before" }, body: new Uint8Array([1]) });
      await within(d, 5000, "delivery before restart");

      // Events: a group that read and acked one event, then two more acked by JetStream.
      const t = `restart-${randomUUID().slice(0, 8)}`;
      const c = events.consume(t, { group: "g", offset: "earliest", autoAck: false });
      const it = c[Symbol.asyncIterator]();
      await events.publish(t, "e1");
      const e1 = (await within(it.next(), 5000, "e1")).value as Event;
      assert.equal(e1.payload, "e1");
      await e1.ack();
      await events.publish(t, "e2");
      await events.publish(t, "e3");

      await server.stop();
      await server.start();

      // The same consumer loop continues with the events stored before the restart.
      const e2 = (await within(it.next(), 15_000, "e2 after restart")).value as Event;
      assert.equal(e2.payload, "e2");
      assert.equal(e2.sequence, 2);
      await e2.ack();
      const e3 = (await within(it.next(), 5000, "e3 after restart")).value as Event;
      assert.equal(e3.payload, "e3");
      await e3.ack();
      assert.deepEqual((await events.read(t)).map((e) => e.payload), ["e1", "e2", "e3"]);
      await c.stop();

      // The broker subscription is back: publish until it delivers (the publisher's own
      // reconnect may take a few attempts), then check nothing but our messages arrived.
      const deadline = Date.now() + 15_000;
      for (let i = 0; ; i++) {
        d = nextDelivery();
        await pub.publish(topic, { header: { n: `after-${i}` }, body: new Uint8Array([2]) }).catch(() => undefined);
        const ok = await within(d, 500, "delivery after restart").then(
          () => true,
          () => false,
        );
        if (ok) break;
        assert.ok(Date.now() < deadline, "the subscription never resumed");
      }
      assert.equal(got[0]?.header["n"], "before");
      assert.match(got[got.length - 1]?.header["n"] ?? "", /^after-/);
    } finally {
      await Promise.all([pub.close(), sub.close(), events.close()]);
      await server.dispose();
    }
  });
});
