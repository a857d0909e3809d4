/**
 * Failure behaviour against real processes: an unreachable Redis, and a private redis-server
 * (random port, appendonly + appendfsync always, its own directory) killed and restarted.
 * The shared server on 6379 is never touched.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MicroError } from "@micro-ts/micro";
import { redisBroker } from "./broker.js";
import { redisEvents } from "./events.js";
import { redisStore } from "./store.js";
import { redisSync } from "./sync.js";

const REDIS_SERVER = process.env["REDIS_SERVER_BIN"] ?? "redis-server";

function listen(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });
}

async function unusedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const unavailable = (address: string) => (e: unknown) =>
  e instanceof MicroError && e.code === 503 && e.detail.includes(address) && e.detail.includes("Redis");

describe("redis faults: engine unreachable at start", () => {
  it("fails every component with a 503 naming Redis and the address when nothing listens", async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const o = { url: `redis://${address}`, timeout: 1000 };
    const store = redisStore(o);
    const broker = redisBroker(o);
    const events = redisEvents(o);
    const sync = redisSync(o);
    const start = Date.now();
    await assert.rejects(store.read("k"), unavailable(address));
    await assert.rejects(broker.connect(), unavailable(address));
    await assert.rejects(events.publish("t", 1), unavailable(address));
    await assert.rejects(sync.lock("l", { wait: 0 }), unavailable(address));
    assert.ok(Date.now() - start < 4 * 1500, "each attempt ends within its timeout");
    await Promise.all([store.close(), broker.close(), events.close(), sync.close()]);
  });

  it("gives up within the configured timeout when the address accepts but never answers", async () => {
    const accepted = new Set<Socket>();
    const silent = createServer((sock) => accepted.add(sock));
    const port = await listen(silent);
    const address = `127.0.0.1:${port}`;
    const store = redisStore({ url: `redis://${address}`, timeout: 500 });
    try {
      const start = Date.now();
      await assert.rejects(store.read("k"), unavailable(address));
      assert.ok(Date.now() - start < 500 + 1500);
    } finally {
      await store.close();
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

/** A private redis-server with an fsync-always append-only file, killed and restarted on one port. */
class PrivateRedis {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "micro-redis-"));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    const p = spawn(
      REDIS_SERVER,
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", this.dir],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    this.proc = p;
    return new Promise((resolve, reject) => {
      let log = "";
      const onData = (b: Buffer) => {
        log += b.toString();
        if (log.includes("Ready to accept connections")) {
          p.stdout!.off("data", onData);
          p.stdout!.resume();
          resolve();
        }
      };
      p.stdout!.on("data", onData);
      p.once("exit", (code) => reject(new Error(`redis-server exited (${code}) before ready: ${log}`)));
      p.once("error", reject);
    });
  }

  /** SIGKILL: no shutdown save, only what was fsynced survives. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("redis faults: server killed and restarted", () => {
  it("reconnects by itself and keeps acknowledged store writes and events", async () => {
    const server = new PrivateRedis(await unusedPort());
    await server.start();
    const o = { url: server.url, timeout: 2000 };
    const store = redisStore(o);
    const events = redisEvents(o);
    const sync = redisSync(o);
    try {
      for (let i = 0; i < 20; i++) await store.write({ key: `k${i}`, value: { i } });
      await events.publish("t", "e1");
      await events.publish("t", "e2");

      await server.kill();
      await server.start();

      // The same instances reconnect on their own: ioredis retries and replays queued commands.
      assert.equal((await store.list()).length, 20);
      assert.deepEqual((await store.read("k7"))[0]?.value, { i: 7 });
      await store.write({ key: "after", value: 1 });
      assert.deepEqual((await events.read("t")).map((e) => e.payload), ["e1", "e2"]);
      const unlock = await sync.lock("after-restart", { wait: 0 });
      await unlock();
    } finally {
      await Promise.all([store.close(), events.close(), sync.close()]);
      await server.dispose();
    }
  });
});
