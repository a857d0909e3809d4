/**
 * Sync on Redis: a lock is the key N:sync:lock:<id> set with SET NX PX to a random token;
 * unlocking deletes it only if it still holds our token (a Lua compare-and-delete), so a holder
 * whose TTL ran out can never free someone else's lock. A leader lease is N:sync:leader:<id>,
 * taken the same way and renewed every ttl/3 with a compare-and-PEXPIRE; followers retry.
 */
import { randomUUID } from "node:crypto";
import { errors, MicroError, SYNC_DEFAULTS, type Leader, type LeaderOptions, type LeaderStatus, type LockOptions, type Sync, type SyncOptions, type Unlock } from "@micro-ts/micro";
import type { Redis } from "ioredis";
import { Connection, type RedisConnectOptions } from "./connection.js";

export const SYNC_ERROR_ID = "micro.sync";

export interface RedisSyncOptions extends SyncOptions, RedisConnectOptions {
  /** How often a waiter or follower retries a held lock/lease, in ms. @default 25 */
  pollInterval?: number;
}

/** 1: deleted, 0: someone else holds it, 2: nobody holds it. */
const RELEASE = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
if v then return 0 end
return 2
`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

type Scripted = Redis & {
  microSyncRelease(key: string, token: string): Promise<number>;
  microSyncRenew(key: string, token: string, ttl: number): Promise<number>;
};

function checkId(id: unknown): string {
  if (typeof id !== "string" || id === "" || id.length > 512) {
    throw errors.badRequest(SYNC_ERROR_ID, "id must be a non-empty string of at most 512 characters");
  }
  return id;
}

function ms(name: string, v: number | undefined, def: number, allowZero = false): number {
  const n = v ?? def;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw errors.badRequest(SYNC_ERROR_ID, `${name} must be a ${allowZero ? "non-negative" : "positive"} number of ms`);
  }
  return n;
}

const cancelled = (reason: unknown) => new MicroError(SYNC_ERROR_ID, "cancelled", 499, { cause: reason });

export class RedisSync implements Sync {
  private readonly conn: Connection;
  private readonly ttl: number;
  private readonly wait: number;
  private readonly poll: number;
  private readonly ns: string;
  private closed = false;
  /** Called on close: wake waiters, release locks, resign candidates. */
  private readonly onClose = new Set<() => Promise<void> | void>();
  private readonly scripted = new WeakSet<Redis>();

  constructor(opts: RedisSyncOptions = {}) {
    this.ttl = ms("ttl", opts.ttl, SYNC_DEFAULTS.ttl);
    this.wait = ms("wait", opts.wait, SYNC_DEFAULTS.wait, true);
    this.poll = ms("pollInterval", opts.pollInterval, 25);
    this.conn = new Connection(opts, SYNC_ERROR_ID);
    this.ns = `${this.conn.namespace}:sync`;
  }

  run<T>(fn: (r: Scripted) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(SYNC_ERROR_ID, "closed"));
    return this.conn.run(async (r) => {
      if (!this.scripted.has(r)) {
        r.defineCommand("microSyncRelease", { numberOfKeys: 1, lua: RELEASE });
        r.defineCommand("microSyncRenew", { numberOfKeys: 1, lua: RENEW });
        this.scripted.add(r);
      }
      return fn(r as Scripted);
    });
  }

  /** Waits `delay` ms unless closed or aborted first; resolves to why it stopped. */
  private pause(delay: number, signal?: AbortSignal): Promise<"time" | "closed" | "aborted"> {
    return new Promise((resolve) => {
      const done = (why: "time" | "closed" | "aborted") => {
        clearTimeout(t);
        this.onClose.delete(onClose);
        signal?.removeEventListener("abort", onAbort);
        resolve(why);
      };
      const t = setTimeout(() => done("time"), delay);
      const onClose = () => done("closed");
      const onAbort = () => done("aborted");
      this.onClose.add(onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async lock(id: string, o: LockOptions = {}): Promise<Unlock> {
    checkId(id);
    const ttl = Math.ceil(ms("ttl", o.ttl, this.ttl));
    const wait = ms("wait", o.wait, this.wait, true);
    if (this.closed) throw errors.serviceUnavailable(SYNC_ERROR_ID, "closed");
    const key = `${this.ns}:lock:${id}`;
    const token = randomUUID();
    const deadline = Date.now() + wait;
    for (;;) {
      if (o.signal?.aborted) throw cancelled(o.signal.reason);
      const ok = await this.run((r) => r.set(key, token, "PX", ttl, "NX"));
      if (ok === "OK") break;
      const left = deadline - Date.now();
      if (left <= 0) throw errors.timeout(SYNC_ERROR_ID, `lock ${id} is held`);
      const why = await this.pause(Math.min(this.poll, left), o.signal);
      if (why === "closed") throw errors.serviceUnavailable(SYNC_ERROR_ID, "closed");
      if (why === "aborted") throw cancelled(o.signal?.reason);
    }
    let released: Promise<void> | undefined;
    const release = async () => {
      this.onClose.delete(onClose);
      const n = await this.conn.run((r) => (r as Scripted).microSyncRelease(key, token));
      if (n === 0) throw errors.conflict(SYNC_ERROR_ID, `lock ${id} expired and was taken by another holder`);
    };
    const onClose = () => release().catch(() => undefined);
    this.onClose.add(onClose);
    return () => (released ??= release());
  }

  async leader(id: string, o: LeaderOptions = {}): Promise<Leader> {
    checkId(id);
    const ttl = Math.ceil(ms("ttl", o.ttl, this.ttl));
    if (this.closed) throw errors.serviceUnavailable(SYNC_ERROR_ID, "closed");
    const c = new Candidate(this, id, `${this.ns}:leader:${id}`, ttl, Math.min(this.poll, ttl / 3));
    this.onClose.add(c.closer);
    c.onResign = () => this.onClose.delete(c.closer);
    if (o.signal) {
      if (o.signal.aborted) {
        await c.resign();
        return c;
      }
      o.signal.addEventListener("abort", () => void c.resign(), { once: true });
    }
    await c.attempt();
    return c;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.onClose].map((f) => f()));
    this.onClose.clear();
    this.conn.close();
  }
}

class Candidate implements Leader {
  private state: LeaderStatus = "follower";
  private readonly token = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly lost = new Set<() => void>();
  private leaseEnd = 0;
  onResign: () => void = () => undefined;
  readonly closer = () => this.resign();

  constructor(
    private readonly sync: RedisSync,
    readonly id: string,
    private readonly key: string,
    private readonly ttl: number,
    private readonly retry: number,
  ) {}

  status(): LeaderStatus {
    if (this.state === "leader" && Date.now() >= this.leaseEnd) return "follower";
    return this.state;
  }

  /** One campaign step: take or renew the lease, then schedule the next. */
  async attempt(): Promise<void> {
    if (this.state === "resigned") return;
    const started = Date.now();
    let held = false;
    try {
      if (this.state === "leader") held = (await this.sync.run((r) => r.microSyncRenew(this.key, this.token, this.ttl))) === 1;
      else held = (await this.sync.run((r) => r.set(this.key, this.token, "PX", this.ttl, "NX"))) === "OK";
    } catch {
      held = false; // Redis unreachable: we cannot know, so we are not leader
    }
    if ((this.state as LeaderStatus) === "resigned") {
      if (held) await this.sync.run((r) => r.microSyncRelease(this.key, this.token)).catch(() => undefined);
      return;
    }
    if (held) {
      this.leaseEnd = started + this.ttl;
      const was = this.state;
      this.state = "leader";
      if (was !== "leader") for (const w of this.waiters.splice(0)) w.resolve();
    } else if (this.state === "leader") {
      this.state = "follower";
      for (const cb of [...this.lost]) cb();
    }
    this.timer = setTimeout(() => void this.attempt(), this.state === "leader" ? this.ttl / 3 : this.retry);
  }

  elected(): Promise<void> {
    if (this.state === "resigned") return Promise.reject(errors.serviceUnavailable(SYNC_ERROR_ID, "resigned"));
    if (this.status() === "leader") return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async resign(): Promise<void> {
    if (this.state === "resigned") return;
    const was = this.state;
    this.state = "resigned";
    clearTimeout(this.timer);
    this.onResign();
    for (const w of this.waiters.splice(0)) w.reject(errors.serviceUnavailable(SYNC_ERROR_ID, "resigned"));
    if (was === "leader") await this.sync.run((r) => r.microSyncRelease(this.key, this.token)).catch(() => undefined);
  }

  onLost(cb: () => void): () => void {
    const f = () => cb();
    this.lost.add(f);
    return () => this.lost.delete(f);
  }
}

/** A Sync on Redis (see RedisSync for the layout). */
export function redisSync(opts: RedisSyncOptions = {}): RedisSync {
  return new RedisSync(opts);
}
