import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isMicroError } from "../errors/index.js";
import { localRuntime } from "./local.js";
import type { Runtime, RuntimeLogRecord } from "./runtime.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "micro-runtime-"));
});
after(() => rm(dir, { recursive: true, force: true }));

async function svc(name: string, main: string): Promise<string> {
  const d = join(dir, "src", name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, "main.js"), main);
  return d;
}

/** Reads the stream until a line matches; returns every line seen. */
async function until(rt: Runtime, name: string, pred: (r: RuntimeLogRecord) => boolean): Promise<RuntimeLogRecord[]> {
  const ac = new AbortController();
  const seen: RuntimeLogRecord[] = [];
  for await (const r of rt.logs(name, { stream: true, count: 1000, signal: ac.signal })) {
    seen.push(r);
    if (pred(r)) ac.abort();
  }
  return seen;
}

const FOREVER = `console.log("up " + process.env.GREETING); setInterval(() => {}, 1000);`;

test("runs a service, captures its output, passes env, and stops it on delete", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d1"), env: { GREETING: "from-runtime" } });
  try {
    await rt.create({ name: "a", source: await svc("a", FOREVER), version: "1.2.3" });
    await until(rt, "a", (r) => r.text === "up from-runtime");
    const [st] = await rt.read({ name: "a" });
    assert.equal(st?.status, "running");
    assert.equal(st?.version, "1.2.3");
    assert.ok(st?.pid);
    await rt.delete("a");
    assert.deepEqual(await rt.read(), []);
    const file = await readFile(join(dir, "d1", "logs", "a.log"), "utf8");
    assert.match(file, /up from-runtime/);
    await assert.rejects(rt.delete("a"), (e) => isMicroError(e) && e.code === 404);
  } finally {
    await rt.stop();
  }
});

test("a resource's env wins over the runtime's", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d2"), env: { GREETING: "runtime" } });
  try {
    await rt.create({ name: "b", source: await svc("b", FOREVER), env: { GREETING: "resource" } });
    await until(rt, "b", (r) => r.text === "up resource");
  } finally {
    await rt.stop();
  }
});

test("a crash is restarted with a growing backoff and shows in the logs", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d3"), backoffInitial: 20, backoffMax: 1000 });
  try {
    await rt.create({ name: "c", source: await svc("c", `console.log("boot"); process.exit(3);`) });
    const seen = await until(rt, "c", (r) => r.text.includes("restarting in 80ms"));
    const delays = seen.filter((r) => r.stream === "runtime" && r.text.startsWith("crashed")).map((r) => r.text);
    assert.deepEqual(delays, [
      "crashed: exited with code 3; restarting in 20ms",
      "crashed: exited with code 3; restarting in 40ms",
      "crashed: exited with code 3; restarting in 80ms",
    ]);
    const [st] = await rt.read({ name: "c" });
    assert.ok(st!.restarts >= 2);
    assert.equal(st!.exitCode, 3);
  } finally {
    await rt.stop();
  }
});

test("update restarts the process with the code now on disk", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d4") });
  try {
    const d = await svc("u", `console.log("v1"); setInterval(() => {}, 1000);`);
    await rt.create({ name: "u", source: d });
    await until(rt, "u", (r) => r.text === "v1");
    await writeFile(join(d, "main.js"), `console.log("v2"); setInterval(() => {}, 1000);`);
    await rt.update("u");
    await until(rt, "u", (r) => r.text === "v2");
    assert.equal((await rt.read({ name: "u" }))[0]?.restarts, 1);
  } finally {
    await rt.stop();
  }
});

test("watch reloads the service when a file changes", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d5"), watchDebounce: 50 });
  try {
    const d = await svc("w", `console.log("w1"); setInterval(() => {}, 1000);`);
    await rt.create({ name: "w", source: d }, { watch: true });
    await until(rt, "w", (r) => r.text === "w1");
    await writeFile(join(d, "main.js"), `console.log("w2"); setInterval(() => {}, 1000);`);
    await until(rt, "w", (r) => r.text === "w2");
    assert.equal((await rt.read({ name: "w" }))[0]?.watch, true);
  } finally {
    await rt.stop();
  }
});

test("a process that ignores SIGTERM is killed after the grace period", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d6"), gracePeriod: 200 });
  try {
    await rt.create({
      name: "stubborn",
      source: await svc("stubborn", `process.on("SIGTERM", () => console.log("ignoring")); console.log("ready"); setInterval(() => {}, 1000);`),
    });
    await until(rt, "stubborn", (r) => r.text === "ready");
    const logs = rt.logs("stubborn", { stream: true, count: 0 });
    const lines: string[] = [];
    const reading = (async () => {
      for await (const r of logs) lines.push(r.text);
    })();
    await rt.delete("stubborn");
    await reading; // the stream ends when the service is deleted
    assert.ok(lines.includes("ignoring"));
    assert.ok(lines.some((l) => l.includes("SIGKILL")));
  } finally {
    await rt.stop();
  }
});

test("refuses bad names, duplicates and directories without a service", async () => {
  const rt = localRuntime({ dataDir: join(dir, "d7") });
  try {
    const d = await svc("dup", FOREVER);
    await assert.rejects(rt.create({ name: "../x", source: d }), (e) => isMicroError(e) && e.code === 400);
    await rt.create({ name: "dup", source: d });
    await assert.rejects(rt.create({ name: "dup", source: d }), (e) => isMicroError(e) && e.code === 409);
    await mkdir(join(dir, "empty"), { recursive: true });
    await assert.rejects(rt.create({ name: "empty", source: join(dir, "empty") }), (e) => isMicroError(e) && e.code === 400);
    assert.throws(() => rt.logs("nope"), (e) => isMicroError(e) && e.code === 404);
  } finally {
    await rt.stop();
  }
});
