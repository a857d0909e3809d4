/**
 * The shared sync suite: every implementation, in core or in a plugin, runs it.
 *   runSyncConformance({ name: "memory", create: () => memorySync() })
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import type { Sync } from "./sync.js";

export interface SyncConformanceOptions {
  name: string;
  create: () => Sync | Promise<Sync>;
  cleanup?: () => void | Promise<void>;
  /** A TTL short enough for tests that the implementation honours, in ms. @default 300 */
  shortTTL?: number;
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MicroError, `expected a MicroError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

export function runSyncConformance(opts: SyncConformanceOptions): void {
  const shortTTL = opts.shortTTL ?? 300;
  describe(`sync conformance: ${opts.name}`, () => {
    const open: Sync[] = [];
    after(async () => {
      await Promise.all(open.map((s) => s.close()));
      await opts.cleanup?.();
    });
    const make = async () => {
      const s = await opts.create();
      open.push(s);
      return s;
    };
    const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

    it("refuses a held lock with 408 when wait runs out, and grants it once unlocked", async () => {
      const s = await make();
      const id = uniq("lock");
      const unlock = await s.lock(id);
      await rejectsWith(s.lock(id, { wait: 0 }), 408);
      const t0 = Date.now();
      await rejectsWith(s.lock(id, { wait: 100 }), 408);
      assert.ok(Date.now() - t0 >= 95);
      await unlock();
      const again = await s.lock(id, { wait: 0 });
      await again();
    });

    it("hands the lock to a waiter when the holder unlocks", async () => {
      const s = await make();
      const id = uniq("lock");
      const unlock = await s.lock(id);
      const order: string[] = [];
      const waiter = s.lock(id, { wait: 10_000 }).then((u) => {
        order.push("waiter");
        return u;
      });
      order.push("unlock");
      await unlock();
      await (await waiter)();
      assert.deepEqual(order, ["unlock", "waiter"]);
    });

    it("never lets two holders in at once", async () => {
      const s = await make();
      const id = uniq("lock");
      let inside = 0;
      let max = 0;
      let done = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 3; i++) {
            const unlock = await s.lock(id, { wait: 20_000 });
            inside++;
            max = Math.max(max, inside);
            await new Promise((r) => setTimeout(r, 2));
            inside--;
            done++;
            await unlock();
          }
        }),
      );
      assert.equal(max, 1);
      assert.equal(done, 24);
    });

    it("frees a lock whose holder never unlocks after its ttl", async () => {
      const s = await make();
      const id = uniq("lock");
      const t0 = Date.now();
      const stale = await s.lock(id, { ttl: shortTTL });
      const unlock = await s.lock(id, { wait: shortTTL * 20 });
      assert.ok(Date.now() - t0 >= shortTTL - 5, "lock passed on before the ttl");
      // The old holder learns that its lock was taken.
      await rejectsWith(stale(), 409);
      await unlock();
      await unlock();
    });

    it("rejects with 499 when the signal aborts the wait", async () => {
      const s = await make();
      const id = uniq("lock");
      const unlock = await s.lock(id);
      const ac = new AbortController();
      const p = s.lock(id, { wait: 60_000, signal: ac.signal });
      ac.abort();
      await rejectsWith(p, 499);
      await unlock();
    });

    it("rejects an invalid id with 400", async () => {
      const s = await make();
      await rejectsWith(s.lock(""), 400);
      await rejectsWith(s.leader(""), 400);
    });

    it("elects one leader and the next candidate when it resigns", async () => {
      const s = await make();
      const id = uniq("election");
      const a = await s.leader(id, { ttl: shortTTL * 10 });
      const b = await s.leader(id, { ttl: shortTTL * 10 });
      assert.equal(a.id, id);
      assert.equal(a.status(), "leader");
      assert.equal(b.status(), "follower");
      await a.elected();
      const bElected = b.elected();
      await a.resign();
      await a.resign();
      assert.equal(a.status(), "resigned");
      await bElected;
      assert.equal(b.status(), "leader");
      await rejectsWith(a.elected(), 503);
      await b.resign();
    });

    it("keeps the leader while it lives, renewing its lease", async () => {
      const s = await make();
      const id = uniq("election");
      const a = await s.leader(id, { ttl: shortTTL });
      let lost = 0;
      a.onLost(() => lost++);
      const b = await s.leader(id, { ttl: shortTTL });
      await new Promise((r) => setTimeout(r, shortTTL * 3));
      assert.equal(a.status(), "leader");
      assert.equal(b.status(), "follower");
      assert.equal(lost, 0);
      await Promise.all([a.resign(), b.resign()]);
    });

    it("resigns a candidate when its signal aborts", async () => {
      const s = await make();
      const ac = new AbortController();
      const a = await s.leader(uniq("election"), { signal: ac.signal });
      assert.equal(a.status(), "leader");
      ac.abort();
      await assert.rejects(a.elected());
      assert.equal(a.status(), "resigned");
    });

    it("on close rejects waiting locks with 503, resigns leaders and refuses new calls", async () => {
      const s = await opts.create();
      const id = uniq("lock");
      await s.lock(id);
      const waiting = rejectsWith(s.lock(id, { wait: 60_000 }), 503);
      const l = await s.leader(uniq("election"));
      await s.close();
      await waiting;
      assert.equal(l.status(), "resigned");
      await rejectsWith(s.lock(uniq("lock")), 503);
      await s.close();
      // Locks held by a closed instance are released for everyone else.
      const other = await make();
      await (await other.lock(id, { wait: 0 }))();
    });
  });
}
