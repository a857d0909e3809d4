// The local runtime with a real TypeScript service that crashes: restarted, crash in the logs.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { localRuntime, type RuntimeLogRecord } from "@micro-ts/micro";
import { ROOT } from "./helpers.js";

test("a crashing TypeScript service is restarted and its crash is in the logs and the log file", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "micro-rt-"));
  const rt = localRuntime({ dataDir, backoffInitial: 50, backoffMax: 200, env: { CRASH_AFTER_MS: "10" } });
  try {
    await rt.create({ name: "crasher", source: join(ROOT, "test/fixtures/cli-crasher") });
    const ac = new AbortController();
    const seen: RuntimeLogRecord[] = [];
    let ups = 0;
    for await (const r of rt.logs("crasher", { stream: true, signal: ac.signal })) {
      seen.push(r);
      if (r.text.startsWith("crasher up")) ups++;
      if (ups === 2) ac.abort();
    }
    const text = seen.map((r) => r.text).join("\n");
    assert.match(text, /boom: crasher failed on purpose/);
    assert.ok(seen.some((r) => r.stream === "stderr" && r.text.includes("boom")));
    assert.match(text, /crashed: exited with code 1; restarting in 50ms/);
    const [st] = await rt.read({ name: "crasher" });
    assert.ok(st!.restarts >= 1);
    assert.equal(st!.exitCode, 1);
    await rt.delete("crasher");
    assert.match(await readFile(join(dataDir, "logs", "crasher.log"), "utf8"), /boom: crasher failed on purpose/);
  } finally {
    await rt.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
