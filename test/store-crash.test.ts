// kill -9 a process that is writing to a file store, several times, and check that every write
// it acknowledged survives with the right value and that the store opens cleanly each time.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { silentLogger } from "../packages/micro/src/logger/logger.js";
import { fileStore } from "../packages/micro/src/store/index.js";
import { valueFor } from "./fixtures/store-values.js";

const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "micro-store-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Acked {
  keys: string[];
  hot: number;
}

/** Runs the writer until `killAfter` ms past its first ack, then SIGKILLs it. */
function runWriter(prefix: string, killAfter: number): Promise<Acked> {
  const child = spawn(
    process.execPath,
    ["--conditions=micro-source", "--import", "tsx", "test/fixtures/store-writer.ts", dir, prefix],
    { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
  );
  const acked: Acked = { keys: [], hot: 0 };
  let timer: NodeJS.Timeout | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    const [kind, v = ""] = line.split(" ");
    if (kind === "k") acked.keys.push(v);
    else if (kind === "hot") acked.hot = Number(v);
    if ((kind === "k" || kind === "hot") && !timer) timer = setTimeout(() => child.kill("SIGKILL"), killAfter);
  });
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("writer never acknowledged a write"));
    }, 30_000);
    child.on("error", reject);
    // "close" fires once stdout is drained, so every line printed before the kill is counted.
    child.on("close", (_code, signal) => {
      clearTimeout(guard);
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`writer exited by itself (signal ${signal})`));
      else resolve(acked);
    });
  });
}

describe("file store under kill -9", () => {
  it("keeps every acknowledged write across repeated crashes and opens cleanly", async (t) => {
    const all: string[] = [];
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      const acked = await runWriter(`r${round}`, 50 + Math.floor(Math.random() * 400));
      assert.ok(acked.keys.length > 0, `round ${round}: nothing acknowledged`);
      all.push(...acked.keys);

      const store = fileStore({ dir, logger: silentLogger() });
      const reports = await store.recovery();
      // A torn tail is at most the writes in flight when killed: never a damaged middle.
      t.diagnostic(`round ${round}: ${acked.keys.length} acked, hot ${acked.hot}, dropped ${reports.map((r) => r.droppedBytes)}`);
      for (const r of reports) assert.ok(r.droppedEntries <= 1, `round ${round}: ${JSON.stringify(r)}`);
      for (const key of all) {
        const [rec] = await store.read(key);
        assert.deepEqual(rec?.value, valueFor(key), `round ${round}: key ${key}`);
      }
      // Writes in flight may have landed unacknowledged; each must still be whole.
      for (const key of await store.list()) {
        if (key !== "hot") assert.deepEqual((await store.read(key))[0]?.value, valueFor(key));
      }
      if (acked.hot > 0) {
        const n = ((await store.read("hot"))[0]?.value as { n: number }).n;
        assert.ok(n === acked.hot || n === acked.hot + 1, `round ${round}: hot is ${n}, acked ${acked.hot}`);
      }
      await store.close();
    }
  });
});
