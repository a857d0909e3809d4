// Kills a publishing process at random points and proves that every event it was told is
// stored survives, in order, with nothing corrupted.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileEvents } from "../packages/micro/src/events/file.js";
import { createLogger } from "../packages/micro/src/logger/logger.js";

const fixture = new URL("./fixtures/events-publisher.ts", import.meta.url).pathname;

/** Runs the publisher until it has acknowledged `kill` events, SIGKILLs it, returns the acknowledged ids. */
function runAndKill(dir: string, round: number, kill: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", fixture, dir, String(round)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acked: string[] = [];
    let buf = "";
    let err = "";
    let killed = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        const [id, r, n] = l.split(" ");
        assert.equal(Number(r), round);
        assert.ok(id && n);
        acked.push(id);
      }
      if (!killed && acked.length >= kill) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL" || !killed) reject(new Error(`publisher exited unexpectedly (${signal}): ${err}`));
      else resolve(acked);
    });
  });
}

describe("file events under kill -9", () => {
  let dir = "";
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps every acknowledged event, in order and intact, across random SIGKILLs", async () => {
    dir = await mkdtemp(join(tmpdir(), "micro-events-crash-"));
    const allAcked: string[] = [];
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const kill = 1 + Math.floor(Math.random() * 400);
      allAcked.push(...(await runAndKill(dir, round, kill)));

      const ev = await fileEvents({ dir, logger: createLogger({ level: "silent" }) });
      const events = await ev.read("crash");
      const pos = new Map(events.map((e, i) => [e.id, i]));
      // Every acknowledged event is present, in the order it was acknowledged.
      let last = -1;
      for (const id of allAcked) {
        const p = pos.get(id);
        assert.ok(p !== undefined, `acknowledged event ${id} lost in round ${round}`);
        assert.ok(p > last, "acknowledged events out of order");
        last = p;
      }
      // Nothing corrupted: each round's events are exactly n = 0, 1, 2, ... with intact payloads.
      const next = new Map<number, number>();
      for (const [i, e] of events.entries()) {
        const p = e.payload as { round: number; n: number; pad: string };
        assert.equal(p.n, next.get(p.round) ?? 0, `gap or reorder at sequence ${i + 1}`);
        assert.equal(p.pad, "x".repeat(p.n % 300));
        assert.equal(e.sequence, i + 1);
        next.set(p.round, p.n + 1);
      }
      assert.deepEqual([...next.keys()], Array.from({ length: round + 1 }, (_, i) => i));
      await ev.close();
    }
    assert.ok(allAcked.length >= rounds);
  });
});
