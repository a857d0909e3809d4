/**
 * `etcdSync`: locks and leader election on etcd leases and transactions (the recipes of
 * etcd's own `concurrency` package).
 *
 * Lock `id`: key `<prefix>lock/<id>`, created in a transaction only if absent, attached to a
 * lease of the lock's TTL (not renewed: the TTL bounds how long a dead holder blocks others).
 * Waiters watch the key and retry when it is deleted (unlock or lease expiry).
 *
 * Election `id`: each candidate puts `<prefix>election/<id>/<lease>` on its own lease, renewed
 * every ttl/3; the candidate whose key has the lowest create revision leads. A follower
 * re-checks whenever a key under the election is deleted. A leader whose lease could not
 * be renewed in time loses (onLost) and campaigns again with a new lease.
 *
 * Leases have whole-second TTLs (rounded up) and etcd raises them to its minimum (2 s with
 * default server settings), so a lock's TTL and a leader's lease may last a little longer
 * than asked, never shorter.
 */
import { randomUUID } from "node:crypto";
import {
  errors,
  MicroError,
  SYNC_DEFAULTS,
  type Leader,
  type LeaderOptions,
  type LeaderStatus,
  type LockOptions,
  type Sync,
  type SyncOptions,
  type Unlock,
} from "@micro-ts/micro";
import type { Etcd3 } from "etcd3";
import { Connector, etcdError, type EtcdConnectOptions } from "./connection.js";
import { keepaliveOnce } from "./registry.js";

const ID = "micro.sync";

export interface EtcdSyncOptions extends EtcdConnectOptions, SyncOptions {
  /** The key prefix of locks and elections. @default "/micro/sync/" */
  prefix?: string;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

function checkId(id: unknown): string {
  if (typeof id !== "string" || id === "" || id.length > 512) {
    throw errors.badRequest(ID, "id must be a non-empty string of at most 512 characters");
  }
  return id;
}

function positive(name: string, v: number | undefined, def: number, allowZero = false): number {
  const n = v ?? def;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw errors.badRequest(ID, `${name} must be a ${allowZero ? "non-negative" : "positive"} number of ms`);
  }
  return n;
}

/** Resolves when any of the signals aborts or `ms` pass. Returns a cleanup-aware promise. */
function pause(ms: number, ...signals: (AbortSignal | undefined)[]): { done: Promise<void>; cancel: () => void } {
  let cancel = (): void => undefined;
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(finish, Math.max(1, Math.min(ms, 2 ** 31 - 1)));
    function finish(): void {
      clearTimeout(t);
      for (const s of signals) s?.removeEventListener("abort", finish);
      resolve();
    }
    cancel = finish;
    for (const s of signals) {
      if (s?.aborted) return finish();
      s?.addEventListener("abort", finish, { once: true });
    }
  });
  return { done, cancel };
}

export class EtcdSync implements Sync {
  readonly name = "etcd";
  private readonly conn: Connector;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly wait: number;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly held = new Set<Unlock>();
  private readonly candidates = new Set<Candidate>();

  constructor(o: EtcdSyncOptions = {}) {
    this.conn = new Connector(ID, o);
    this.prefix = o.prefix ?? "/micro/sync/";
    this.ttl = positive("ttl", o.ttl, SYNC_DEFAULTS.ttl);
    this.wait = positive("wait", o.wait, SYNC_DEFAULTS.wait, true);
  }

  client(): Promise<Etcd3> {
    return this.conn.get();
  }

  get closingSignal(): AbortSignal {
    return this.closing.signal;
  }

  get requestTimeout(): number {
    return this.conn.timeout;
  }

  assertOpen(): void {
    if (this.closed) throw errors.serviceUnavailable(ID, "sync is closed");
  }

  async lock(id: string, o: LockOptions = {}): Promise<Unlock> {
    this.assertOpen();
    checkId(id);
    const ttl = positive("ttl", o.ttl, this.ttl);
    const deadline = Date.now() + positive("wait", o.wait, this.wait, true);
    const key = `${this.prefix}lock/${id}`;
    const owner = randomUUID();
    for (;;) {
      if (o.signal?.aborted) throw new MicroError(ID, "lock cancelled", 499, { cause: o.signal.reason });
      this.assertOpen();
      const c = await this.client();
      let revision: string;
      try {
        const lease = (await c.leaseClient.leaseGrant({ TTL: seconds(ttl), ID: 0 })).ID;
        const r = await c.if(key, "Create", "==", 0).then(c.put(key).value(owner).lease(lease)).commit();
        if (r.succeeded) {
          if (this.closed) {
            await c.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
            this.assertOpen();
          }
          return this.unlocker(key, owner, lease);
        }
        void c.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
        revision = r.header.revision;
      } catch (e) {
        throw etcdError(ID, `lock ${id}`, e);
      }
      if (Date.now() >= deadline) throw errors.timeout(ID, `lock ${id} is held`);
      await this.released(c, key, revision, deadline - Date.now(), o.signal);
    }
  }

  /** Waits until `key` is deleted after `revision`, `ms` pass, or the wait is aborted/closed. */
  private async released(c: Etcd3, key: string, revision: string, ms: number, signal?: AbortSignal): Promise<void> {
    const p = pause(ms, signal, this.closing.signal);
    const w = await c
      .watch()
      .key(key)
      .startRevision(String(BigInt(revision) + 1n))
      .only("delete")
      .create()
      .catch(() => undefined);
    w?.on("delete", p.cancel);
    w?.on("error", p.cancel);
    await p.done;
    await w?.cancel().catch(() => undefined);
  }

  private unlocker(key: string, owner: string, lease: string): Unlock {
    let done: Promise<void> | undefined;
    const unlock: Unlock = () => {
      this.held.delete(unlock);
      done ??= (async () => {
        const c = await this.client().catch(() => undefined);
        if (!c) return; // closed: the lease is revoked or runs out on its own
        try {
          const r = await c.if(key, "Value", "==", owner).then(c.delete().key(key)).else(c.get(key)).commit();
          void c.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
          if (!r.succeeded && (r.responses[0]?.response_range?.kvs.length ?? 0) > 0) {
            throw errors.conflict(ID, `lock ${key} expired and was taken by another holder`);
          }
        } catch (e) {
          throw etcdError(ID, `unlock ${key}`, e);
        }
      })();
      return done;
    };
    this.held.add(unlock);
    return unlock;
  }

  async leader(id: string, o: LeaderOptions = {}): Promise<Leader> {
    this.assertOpen();
    checkId(id);
    const c = new Candidate(this, id, `${this.prefix}election/${id}/`, positive("ttl", o.ttl, this.ttl));
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
    await this.conn.close();
  }
}

class Candidate implements Leader {
  private state: LeaderStatus = "follower";
  private readonly lost = new Set<() => void>();
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly stop = new AbortController();
  private lease: string | undefined;
  private key: string | undefined;
  private leaseEnd = 0;
  private timer: NodeJS.Timeout | undefined;
  private watcher: { cancel(): Promise<void> } | undefined;
  private busy = false;
  private again = false;
  onResigned: (() => void) | undefined;

  constructor(
    private readonly sync: EtcdSync,
    readonly id: string,
    private readonly prefix: string,
    private readonly ttl: number,
  ) {}

  status(): LeaderStatus {
    return this.state;
  }

  private isResigned(): boolean {
    return this.state === "resigned";
  }

  elected(): Promise<void> {
    if (this.state === "leader") return Promise.resolve();
    if (this.state === "resigned") return Promise.reject(errors.serviceUnavailable(ID, "candidate resigned"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  onLost(cb: () => void): () => void {
    this.lost.add(cb);
    return () => this.lost.delete(cb);
  }

  /** Joins the election (first attempt awaited), then follows it in the background. */
  async start(): Promise<void> {
    if (this.isResigned()) return;
    const c = await this.sync.client();
    const w = await c.watch().prefix(this.prefix).only("delete").create();
    this.watcher = w;
    w.on("delete", (kv) => {
      if (this.key !== undefined && kv.key.toString() === this.key) this.leaseGone();
      else this.check();
    });
    if (this.isResigned()) return void w.cancel().catch(() => undefined);
    await this.step().catch(() => undefined);
    this.schedule();
  }

  /** Campaigns with a fresh lease if it has none, then sees whether it leads. */
  private async step(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        if (this.isResigned()) return;
        const c = await this.sync.client();
        if (this.lease === undefined) {
          const lease = (await c.leaseClient.leaseGrant({ TTL: seconds(this.ttl), ID: 0 })).ID;
          const key = `${this.prefix}${BigInt(lease).toString(16)}`;
          this.leaseEnd = Date.now() + this.ttl;
          await c.put(key).value(this.id).lease(lease);
          this.lease = lease;
          this.key = key;
          if (this.isResigned()) return void this.release(c);
        }
        const first = await c.getAll().prefix(this.prefix).sort("Create", "Ascend").limit(1).keys();
        if (this.isResigned()) return;
        if (first[0] === this.key && this.state !== "leader") {
          this.state = "leader";
          for (const w of this.waiters.splice(0)) w.resolve();
        }
      } while (this.again);
    } finally {
      this.busy = false;
    }
  }

  /** Re-checks after a delete under the election (a leader may have gone). */
  private check(): void {
    if (this.isResigned() || this.state === "leader") return;
    void this.step().catch(() => undefined);
  }

  /** Renews the lease every ttl/3; a lease not renewed in time means leadership lost. */
  private schedule(): void {
    if (this.isResigned()) return;
    this.timer = setTimeout(() => void this.renew(), this.ttl / 3);
  }

  private async renew(): Promise<void> {
    if (this.isResigned()) return;
    const lease = this.lease;
    if (lease === undefined) {
      await this.step().catch(() => undefined);
    } else {
      const c = await this.sync.client().catch(() => undefined);
      const left = c ? await keepaliveOnce(c, lease, this.sync.requestTimeout).catch(() => -1) : -1;
      if (left > 0) this.leaseEnd = Date.now() + this.ttl;
      else if (left === 0 || Date.now() >= this.leaseEnd) this.leaseGone();
    }
    this.schedule();
  }

  /** Our lease (and so our key) is gone: lose leadership if held, campaign again. */
  private leaseGone(): void {
    if (this.isResigned() || this.lease === undefined) return;
    this.lease = undefined;
    this.key = undefined;
    if (this.state === "leader") {
      this.state = "follower";
      for (const cb of [...this.lost]) cb();
    }
    void this.step().catch(() => undefined);
  }

  private release(c: Etcd3): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.key = undefined;
    if (lease === undefined) return Promise.resolve();
    return c.leaseClient.leaseRevoke({ ID: lease }).then(
      () => undefined,
      () => undefined,
    );
  }

  async resign(): Promise<void> {
    if (this.isResigned()) return;
    this.state = "resigned";
    this.stop.abort();
    clearTimeout(this.timer);
    this.onResigned?.();
    for (const w of this.waiters.splice(0)) w.reject(errors.serviceUnavailable(ID, "candidate resigned"));
    await this.watcher?.cancel().catch(() => undefined);
    const c = await this.sync.client().catch(() => undefined);
    if (c) await this.release(c); // revoking the lease deletes the key: the next candidate leads
  }
}

/** Locks and leader election on etcd: `new Service({ sync: etcdSync({ hosts: "127.0.0.1:2379" }) })`. */
export function etcdSync(opts: EtcdSyncOptions = {}): EtcdSync {
  return new EtcdSync({ ...opts });
}
