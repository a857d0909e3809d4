// Leases as lock files, shared by every process on one machine (used by storeSync on a file store).
// Each id is a directory of generation files: "<n>" holds the lease written by whoever created
// generation n. Creating "<n+1>" is the compare-and-set: link(2) onto an existing name fails, so
// exactly one process wins it. The highest generation is the current lease and is never deleted,
// so generations only grow. Generations are pruned once over a minute old; a process that
// stalled that long and re-creates a pruned name sees older, higher generations and withdraws.
import { randomUUID } from "node:crypto";
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Current, Lease, Register } from "./lease.js";

const GEN = /^\d+$/;
const ignore = () => undefined;
/** Generations (and stray temp files) older than this are deleted, in ms. */
const PRUNE_AGE = 60_000;

export class FileRegister implements Register {
  constructor(
    private readonly dir: string,
    readonly pollInterval: number,
  ) {}

  private path(id: string): string {
    return join(this.dir, encodeURIComponent(id).replace(/\./g, "%2E"));
  }

  private async gens(d: string): Promise<{ gens: number[]; tmps: string[] }> {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { gens: [], tmps: [] };
      throw e;
    }
    return {
      gens: names.filter((n) => GEN.test(n)).map(Number),
      tmps: names.filter((n) => n.startsWith(".tmp-")),
    };
  }

  async get(id: string): Promise<Current | undefined> {
    const d = this.path(id);
    for (let attempt = 0; ; attempt++) {
      const { gens } = await this.gens(d);
      if (gens.length === 0) return undefined;
      const max = Math.max(...gens);
      try {
        const lease = JSON.parse(await readFile(join(d, String(max)), "utf8")) as Lease;
        return { version: String(max), lease };
      } catch (e) {
        // Only a withdrawn stale generation can vanish under us: look again.
        if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt > 5) throw e;
      }
    }
  }

  async cas(id: string, expected: string | undefined, lease: Lease): Promise<string | undefined> {
    const d = this.path(id);
    const gen = expected === undefined ? 1 : Number(expected) + 1;
    await mkdir(d, { recursive: true });
    // Written aside and linked in whole, so a reader never sees a half-written lease.
    const tmp = join(d, `.tmp-${randomUUID()}`);
    await writeFile(tmp, JSON.stringify(lease));
    try {
      await link(tmp, join(d, String(gen)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return undefined;
      throw e;
    } finally {
      await unlink(tmp).catch(ignore);
    }
    const mine = join(d, String(gen));
    const { gens, tmps } = await this.gens(d);
    const higher = gens.filter((g) => g > gen);
    if (higher.length > 0) {
      // Ours is not the highest. Successors built on ours are newer than ours; a higher
      // generation older than ours means we re-created a pruned name from a stale view.
      const at = (await stat(mine).catch(ignore))?.mtimeMs ?? 0;
      const times = await Promise.all(higher.map((g) => stat(join(d, String(g))).then((x) => x.mtimeMs, ignore)));
      if (times.some((t) => t !== undefined && t < at)) {
        await unlink(mine).catch(ignore);
        return undefined;
      }
    }
    // Prune old generations only once they are old, so a name is re-created only by a process
    // that stalled for PRUNE_AGE between reading and writing (and that is caught above).
    if (gens.length > 8 || tmps.length > 0) {
      await Promise.all(
        [...gens.filter((g) => g < gen).map(String), ...tmps].map(async (name) => {
          const p = join(d, name);
          const st = await stat(p).catch(ignore);
          if (st && Date.now() - st.mtimeMs > PRUNE_AGE) await unlink(p).catch(ignore);
        }),
      );
    }
    return String(gen);
  }
}
