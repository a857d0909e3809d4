// Leases as lock files, shared by every process on one machine (used by storeSync on a file store).
// Each id is a directory of generation files: "<n>" holds the lease written by whoever created
// generation n. Creating "<n+1>" is the compare-and-set: link(2) onto an existing name fails, so
// exactly one process wins it. The highest generation is the current lease and is never deleted,
// so generations only grow; a process whose new generation is not the highest (it decided on a
// stale view) withdraws it. Older generations are removed by each winner.
import { randomUUID } from "node:crypto";
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Current, Lease, Register } from "./lease.js";

const GEN = /^\d+$/;
const ignore = () => undefined;

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
    const { gens, tmps } = await this.gens(d);
    if (gens.some((g) => g > gen)) {
      await unlink(join(d, String(gen))).catch(ignore);
      return undefined;
    }
    await Promise.all([
      ...gens.filter((g) => g < gen).map((g) => unlink(join(d, String(g))).catch(ignore)),
      // Leftovers of processes killed between writeFile and unlink.
      ...tmps.map(async (t) => {
        const s = await stat(join(d, t)).catch(ignore);
        if (s && Date.now() - s.mtimeMs > 60_000) await unlink(join(d, t)).catch(ignore);
      }),
    ]);
    return String(gen);
  }
}
