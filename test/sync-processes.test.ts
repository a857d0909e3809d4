// Real processes contending through storeSync on one file store directory.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";

const root = new URL("..", import.meta.url).pathname;
const dirs: string[] = [];
const children: ChildProcess[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "micro-sync-proc-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function worker(args: string[]): ChildProcess {
  const c = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", "test/fixtures/sync-worker.ts", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(c);
  return c;
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.on("exit", (code) => resolve(code))));

describe("storeSync across processes", () => {
  it("lets one process at a time hold a lock", async () => {
    const dir = tempDir();
    const file = join(dir, "shared.txt");
    const procs = Array.from({ length: 4 }, () => worker(["lock", dir, file, "15"]));
    assert.deepEqual(await Promise.all(procs.map(exited)), [0, 0, 0, 0]);
    const lines = readFileSync(file, "utf8").trim().split("\n");
    assert.equal(lines.length, 4 * 15 * 2);
    for (let i = 0; i < lines.length; i += 2) {
      const [pid, what] = lines[i]!.split(" ");
      assert.equal(what, "start");
      assert.equal(lines[i + 1], `${pid} end`, `interleaved at line ${i + 1}`);
    }
  });

  it("elects one leader, and another after the leader is killed and its lease runs out", async () => {
    const dir = tempDir();
    const ttl = 1000;
    const events: { line: string; at: number; pid: number }[] = [];
    let notify = () => {};
    const procs = Array.from({ length: 3 }, () => {
      const c = worker(["leader", dir, String(ttl)]);
      createInterface({ input: c.stdout! }).on("line", (line) => {
        events.push({ line, at: Date.now(), pid: c.pid! });
        notify();
      });
      return c;
    });
    const until = async (pred: () => boolean, ms: number, what: string) => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(events)}`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 100);
        });
      }
    };
    const leaders = () => events.filter((e) => e.line.startsWith("leader"));
    await until(() => events.filter((e) => e.line.startsWith("ready")).length === 3 && leaders().length >= 1, 30_000, "a leader");
    // Give the followers several lease periods to (wrongly) take over.
    await new Promise((r) => setTimeout(r, ttl * 2));
    assert.equal(leaders().length, 1);
    const first = procs.find((p) => p.pid === leaders()[0]!.pid)!;
    const killedAt = Date.now();
    first.kill("SIGKILL");
    await until(() => leaders().length >= 2, 30_000, "a new leader");
    const second = leaders()[1]!;
    assert.notEqual(second.pid, first.pid);
    // Its last renewal was at most ttl/3 before the kill, so the lease outlived it by >= 2/3 ttl.
    assert.ok(second.at - killedAt >= ttl / 2, `took over after only ${second.at - killedAt} ms`);
    assert.ok(second.at - killedAt < ttl * 3, `took ${second.at - killedAt} ms`);
    await new Promise((r) => setTimeout(r, ttl * 2));
    assert.equal(leaders().length, 2, "more than one process took over");
    assert.equal(events.filter((e) => e.line.startsWith("lost")).length, 0);
  });
});
