// The engine behind every core Sync: locks and elections as leases in a compare-and-set
// register. Implementations differ only in the Register (memory, a Store, lock files).
import { randomUUID } from "node:crypto";
import { badRequest, conflict, MicroError, serviceUnavailable, timeout } from "../errors/errors.js";
import {
  SYNC_DEFAULTS,
  SYNC_ERROR_ID,
  type Leader,
  type LeaderOptions,
  type LeaderStatus,
  type LockOptions,
  type Sync,
  type SyncOptions,
  type Unlock,
} from "./sync.js";

export interface Lease {
  owner: string;
  /** ms since epoch */
  expires: number;
  released?: boolean;
}

export interface Current {
  version: string;
  lease: Lease;
}

/** A map from id to lease with atomic compare-and-set. */
export interface Register {
  get(id: string): Promise<Current | undefined>;
  /**
   * Sets the lease only if id's version is still `expected` (undefined: no lease yet).
   * Returns the new version, or undefined when another write came first.
   */
  cas(id: string, expected: string | undefined, lease: Lease): Promise<string | undefined>;
  /** How often to re-check a held lease while waiting, in ms (Infinity: changes are all local). */
  readonly pollInterval: number;
}

const isLive = (l: Lease, now: number) => !l.released && l.expires > now;

function checkId(id: unknown): string {
  if (typeof id !== "string" || id === "" || id.length > 512) {
    throw badRequest(SYNC_ERROR_ID, "id must be a non-empty string of at most 512 characters");
  }
  return id;
}

function positive(name: string, v: number | undefined, def: number, allowZero = false): number {
  const n = v ?? def;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw badRequest(SYNC_ERROR_ID, `${name} must be a ${allowZero ? "non-negative" : "positive"} number of ms`);
  }
  return n;
}

export class LeaseSync implements Sync {
  private readonly instance = randomUUID();
  private seq = 0;
  private closed = false;
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly held = new Set<Unlock>();
  private readonly candidates = new Set<Candidate>();
  private readonly closing = new AbortController();
  readonly ttl: number;
  readonly wait: number;

  constructor(
    readonly register: Register,
    opts: SyncOptions = {},
  ) {
    this.ttl = positive("ttl", opts.ttl, SYNC_DEFAULTS.ttl);
    this.wait = positive("wait", opts.wait, SYNC_DEFAULTS.wait, true);
  }

  owner(): string {
    return `${this.instance}:${++this.seq}`;
  }

  assertOpen(): void {
    if (this.closed) throw serviceUnavailable(SYNC_ERROR_ID, "sync is closed");
  }

  /** One attempt: takes the lease if free. Returns the new version, or the live holder's lease. */
  async tryAcquire(id: string, owner: string, ttl: number): Promise<{ version?: string; busy?: Lease }> {
    const cur = await this.register.get(id);
    if (cur && isLive(cur.lease, Date.now())) return { busy: cur.lease };
    const version = await this.register.cas(id, cur?.version, { owner, expires: Date.now() + ttl });
    return version === undefined ? {} : { version };
  }

  /** Gives the lease up if `owner` still has it; false if another holder has it now. */
  async release(id: string, owner: string): Promise<boolean> {
    for (;;) {
      const cur = await this.register.get(id);
      if (!cur || cur.lease.owner !== owner) return !cur || !isLive(cur.lease, Date.now());
      if (cur.lease.released) return true;
      const v = await this.register.cas(id, cur.version, { owner, expires: 0, released: true });
      if (v !== undefined) {
        this.wake(id);
        return true;
      }
    }
  }

  /** Waits until `ms` pass, the id changes locally, or the signal aborts. */
  pause(id: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.closing.signal.aborted) return resolve();
      const set = this.wakers.get(id) ?? new Set();
      this.wakers.set(id, set);
      const done = () => {
        clearTimeout(t);
        set.delete(done);
        if (set.size === 0 && this.wakers.get(id) === set) this.wakers.delete(id);
        signal?.removeEventListener("abort", done);
        this.closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, Math.max(1, Math.min(ms, 2 ** 31 - 1)));
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
      this.closing.signal.addEventListener("abort", done, { once: true });
    });
  }

  wake(id: string): void {
    for (const w of [...(this.wakers.get(id) ?? [])]) w();
  }

  /** How long to pause before the next attempt on a busy lease. */
  delay(busy: Lease | undefined, until: number): number {
    const now = Date.now();
    const expiry = busy ? busy.expires - now + 1 : 1;
    return Math.max(1, Math.min(this.register.pollInterval, expiry, until - now));
  }

  async lock(id: string, o: LockOptions = {}): Promise<Unlock> {
    this.assertOpen();
    checkId(id);
    const ttl = positive("ttl", o.ttl, this.ttl);
    const deadline = Date.now() + positive("wait", o.wait, this.wait, true);
    const owner = this.owner();
    for (;;) {
      if (o.signal?.aborted) throw new MicroError(SYNC_ERROR_ID, "lock cancelled", 499, { cause: o.signal.reason });
      this.assertOpen();
      const r = await this.tryAcquire(id, owner, ttl);
      if (r.version !== undefined) return this.unlocker(id, owner);
      if (Date.now() >= deadline) throw timeout(SYNC_ERROR_ID, `lock ${id} is held`);
      await this.pause(id, this.delay(r.busy, deadline), o.signal);
    }
  }

  private unlocker(id: string, owner: string): Unlock {
    let done: Promise<void> | undefined;
    const unlock: Unlock = () => {
      this.held.delete(unlock);
      done ??= this.release(id, owner).then((ok) => {
        if (!ok) throw conflict(SYNC_ERROR_ID, `lock ${id} expired and was taken by another holder`);
      });
      return done;
    };
    this.held.add(unlock);
    return unlock;
  }

  async leader(id: string, o: LeaderOptions = {}): Promise<Leader> {
    this.assertOpen();
    checkId(id);
    const c = new Candidate(this, id, positive("ttl", o.ttl, this.ttl));
    this.candidates.add(c);
    c.onResigned = () => this.candidates.delete(c);
    if (o.signal) {
      if (o.signal.aborted) await c.resign();
      else o.signal.addEventListener("abort", () => void c.resign(), { once: true });
    }
    await c.start();
    return c;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await Promise.allSettled([...this.candidates].map((c) => c.resign()));
    await Promise.allSettled([...this.held].map((u) => u()));
  }
}

class Candidate implements Leader {
  private state: LeaderStatus = "follower";
  private version: string | undefined;
  private readonly owner: string;
  private readonly lost = new Set<() => void>();
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private loop: Promise<void> | undefined;
  private readonly stop = new AbortController();
  onResigned: (() => void) | undefined;

  constructor(
    private readonly sync: LeaseSync,
    readonly id: string,
    private readonly ttl: number,
  ) {
    this.owner = sync.owner();
  }

  status(): LeaderStatus {
    return this.state;
  }

  // A method, not a comparison, because the state changes across awaits.
  private isResigned(): boolean {
    return this.state === "resigned";
  }

  elected(): Promise<void> {
    if (this.state === "leader") return Promise.resolve();
    if (this.state === "resigned") return Promise.reject(serviceUnavailable(SYNC_ERROR_ID, "candidate resigned"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  onLost(cb: () => void): () => void {
    this.lost.add(cb);
    return () => this.lost.delete(cb);
  }

  /** The first attempt, then the campaign in the background. */
  async start(): Promise<void> {
    if (this.state === "resigned") return;
    await this.step().catch(() => undefined);
    this.loop = this.campaign();
  }

  private async campaign(): Promise<void> {
    while (this.state !== "resigned") {
      const wait = this.state === "leader" ? this.ttl / 3 : this.sync.delay(this.busy, Infinity);
      await this.sync.pause(this.id, wait, this.stop.signal);
      if (this.isResigned()) return;
      // A failing backend is retried: the lease, not this loop, decides who leads.
      await this.step().catch(() => undefined);
    }
  }

  private busy: Lease | undefined;
  private leaseEnd = 0;

  /** One campaign step: renew the lease if leader, else try to take it. */
  private async step(): Promise<void> {
    if (this.state === "leader") {
      const expires = Date.now() + this.ttl;
      const v = await this.sync.register
        .cas(this.id, this.version, { owner: this.owner, expires })
        .catch(() => (Date.now() < this.leaseEnd ? "retry" : undefined));
      if (v === "retry" || this.state !== "leader") return;
      if (v === undefined) return this.lose();
      this.version = v;
      this.leaseEnd = expires;
      return;
    }
    const r = await this.sync.tryAcquire(this.id, this.owner, this.ttl);
    this.busy = r.busy;
    if (r.version === undefined) return;
    // resign() may have run while we were acquiring.
    if (this.isResigned()) {
      await this.sync.release(this.id, this.owner);
      return;
    }
    this.version = r.version;
    this.leaseEnd = Date.now() + this.ttl;
    this.state = "leader";
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private lose(): void {
    this.state = "follower";
    this.version = undefined;
    for (const cb of [...this.lost]) cb();
  }

  async resign(): Promise<void> {
    if (this.state === "resigned") return;
    const wasLeader = this.state === "leader";
    this.state = "resigned";
    this.stop.abort();
    this.onResigned?.();
    for (const w of this.waiters.splice(0)) w.reject(serviceUnavailable(SYNC_ERROR_ID, "candidate resigned"));
    await this.loop;
    if (wasLeader) await this.sync.release(this.id, this.owner).catch(() => undefined);
  }
}
