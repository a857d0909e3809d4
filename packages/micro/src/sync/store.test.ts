import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { conflict, internalServerError } from "../errors/errors.js";
import { fileStore } from "../store/file.js";
import { memoryStore } from "../store/memory.js";
import type { Store } from "../store/store.js";
import { runSyncConformance } from "./conformance.js";
import { storeSync } from "./store.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "micro-sync-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const shared = memoryStore();
runSyncConformance({ name: "store (memory store)", create: () => storeSync({ store: shared, pollInterval: 10 }), shortTTL: 150 });
const dir = tempDir();
runSyncConformance({
  name: "store (file store, lock files)",
  create: () => storeSync({ store: fileStore({ dir }), pollInterval: 10 }),
  shortTTL: 150,
});

/** A store whose writes fail while `down` is set: a partitioned holder. */
function flaky(inner: Store, mode: { down: "error" | "conflict" | false }): Store {
  return {
    ...inner,
    read: (k, o) => inner.read(k, o),
    write: (r, o) =>
      mode.down === "error"
        ? Promise.reject(internalServerError("t", "down"))
        : mode.down === "conflict"
          ? Promise.reject(conflict("t", "lost"))
          : inner.write(r, o),
    close: () => inner.close(),
  };
}

describe("storeSync", () => {
  it("shares locks between instances on one store", async () => {
    const store = memoryStore();
    const a = storeSync({ store, pollInterval: 5 });
    const b = storeSync({ store, pollInterval: 5 });
    const unlock = await a.lock("x");
    await assert.rejects(b.lock("x", { wait: 0 }), { code: 408 });
    const waiting = b.lock("x", { wait: 5_000 });
    await unlock();
    await (await waiting)();
    await Promise.all([a.close(), b.close()]);
  });

  it("shares locks between file stores on one directory without opening the store", async () => {
    const d = tempDir();
    const a = storeSync({ store: fileStore({ dir: d }), pollInterval: 5 });
    const b = storeSync({ store: fileStore({ dir: d }), pollInterval: 5 });
    const unlock = await a.lock("x");
    await assert.rejects(b.lock("x", { wait: 0 }), { code: 408 });
    await unlock();
    await (await b.lock("x", { wait: 0 }))();
    await Promise.all([a.close(), b.close()]);
  });

  it("re-elects when the leader cannot renew, and tells the old leader", async () => {
    const store = memoryStore();
    const mode: { down: "error" | "conflict" | false } = { down: false };
    const a = storeSync({ store: flaky(store, mode), pollInterval: 5 });
    const b = storeSync({ store, pollInterval: 5 });
    const ttl = 150;
    const la = await a.leader("e", { ttl });
    assert.equal(la.status(), "leader");
    const lost = new Promise<void>((r) => la.onLost(r));
    const lb = await b.leader("e", { ttl });
    assert.equal(lb.status(), "follower");
    const t0 = Date.now();
    mode.down = "error";
    await lb.elected();
    assert.ok(Date.now() - t0 >= ttl / 2, "re-elected before the old lease ran out");
    await lost;
    assert.equal(la.status(), "follower");
    mode.down = false;
    await new Promise((r) => setTimeout(r, ttl));
    assert.equal(la.status(), "follower");
    assert.equal(lb.status(), "leader");
    await Promise.all([a.close(), b.close()]);
  });
});
