import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import { createLogger } from "../logger/logger.js";
import type { Config, Value } from "./config.js";
import { newConfig } from "./default.js";
import { defaultsSource, envSource, fileSource, memorySource } from "./sources.js";
import type { StandardSchemaV1 } from "./standard-schema.js";

const dirs: string[] = [];
const configs: Config[] = [];
after(async () => {
  for (const c of configs) await c.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmpFile(name: string, text: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "micro-config-"));
  dirs.push(d);
  const f = join(d, name);
  await writeFile(f, text);
  return f;
}
async function make(...args: Parameters<typeof newConfig>): Promise<Config> {
  const c = await newConfig(...args);
  configs.push(c);
  return c;
}
/** The next value the watch yields, failing after `ms`. */
async function nextValue(it: AsyncIterator<Value>, ms = 5000): Promise<Value> {
  let t: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error("no change seen in time")), ms)));
  try {
    const r = await Promise.race([it.next(), deadline]);
    assert.equal(r.done, false);
    return r.value as Value;
  } finally {
    clearTimeout(t);
  }
}
const is400 = (e: unknown) => e instanceof MicroError && e.code === 400;

describe("config", () => {
  it("merges defaults < file < env < set, objects deeply and arrays whole", async () => {
    const file = await tmpFile("app.json", JSON.stringify({ db: { host: "file", port: 5432 }, tags: ["f"] }));
    const c = await make({
      sources: [
        defaultsSource({ db: { host: "default", user: "app", port: 1 }, tags: ["a", "b"], name: "svc" }),
        fileSource(file),
        envSource({ env: { MICRO_CONFIG_DB_HOST: "env", MICRO_CONFIG_DB_MAX__CONNS: "20", MICRO_CONFIG_DEBUG: "true", OTHER: "x" } }),
      ],
    });
    assert.deepEqual(c.get("db").raw(), { host: "env", user: "app", port: 5432, max_conns: 20 });
    assert.deepEqual(c.get("tags").raw(), ["f"]);
    assert.equal(c.get("debug").bool(), true);
    assert.equal(c.get("other").exists(), false);
    c.set("db.host", "memory");
    assert.equal(c.get("db.host").string(), "memory");
    c.delete("db.host");
    assert.equal(c.get("db.host").string(), "env");
    assert.equal(c.sources.length, 3);
  });

  it("reads typed values with defaults for missing or mistyped ones", async () => {
    const c = await make({ sources: [defaultsSource({ s: "x", n: 3, ns: "4.5", b: "true", list: "a, b", arr: ["x", 1], d: "1m30s", dn: 250, bad: "soon", m: { k: 1 } })] });
    assert.equal(c.get("s").string(), "x");
    assert.equal(c.get("n").string(), "3");
    assert.equal(c.get("missing").string("def"), "def");
    assert.equal(c.get("n").number(), 3);
    assert.equal(c.get("ns").number(), 4.5);
    assert.equal(c.get("s").number(7), 7);
    assert.equal(c.get("b").bool(), true);
    assert.equal(c.get("s").bool(true), true);
    assert.deepEqual(c.get("list").stringArray(), ["a", "b"]);
    assert.deepEqual(c.get("arr").stringArray(), ["x", "1"]);
    assert.deepEqual(c.get("missing").stringArray(["z"]), ["z"]);
    assert.equal(c.get("d").duration(), 90_000);
    assert.equal(c.get("dn").duration(), 250);
    assert.equal(c.get("bad").duration(5000), 5000);
    assert.deepEqual(c.get("m").map(), { k: 1 });
    assert.deepEqual(c.get("s").map(), {});
    assert.equal(c.get("m").json(), '{"k":1}');
    const m = c.get("m").map();
    m["k"] = 2;
    assert.equal(c.get("m.k").number(), 1, "values are copies");
  });

  it("parses durations", async () => {
    const c = await make({ sources: [defaultsSource({ a: "5s", b: "250ms", c: "1h", d: "1.5s", e: "2d" })] });
    assert.deepEqual(["a", "b", "c", "d", "e"].map((k) => c.get(k).duration()), [5000, 250, 3_600_000, 1500, 172_800_000]);
  });

  it("watch yields when set changes the value, not for other paths", async () => {
    const c = await make({ sources: [defaultsSource({ a: 1 })] });
    const it = c.watch("a")[Symbol.asyncIterator]();
    c.set("b", 1);
    c.set("a", 1); // unchanged
    c.set("a", 2);
    assert.equal((await nextValue(it)).number(), 2);
    await it.return!();
  });

  it("watch yields when a watched source changes", async () => {
    const mem = memorySource({ feature: { on: false } });
    const c = await make({ sources: [mem] });
    const it = c.watch("feature.on")[Symbol.asyncIterator]();
    mem.set("feature.on", true);
    assert.equal((await nextValue(it)).bool(), true);
    await it.return!();
  });

  it("watch yields when the file changes, including when it is replaced by a rename", async () => {
    const file = await tmpFile("app.json", JSON.stringify({ level: "info" }));
    const c = await make({ sources: [fileSource(file, { debounce: 10, poll: 100 })] });
    const it = c.watch("level")[Symbol.asyncIterator]();
    await writeFile(file, JSON.stringify({ level: "debug" }));
    assert.equal((await nextValue(it)).string(), "debug");
    await writeFile(file + ".new", JSON.stringify({ level: "warn" }));
    await rename(file + ".new", file);
    assert.equal((await nextValue(it)).string(), "warn");
    await it.return!();
  });

  it("keeps the last good config when the file gets a syntax error, and logs file and line", async () => {
    const file = await tmpFile("app.json", JSON.stringify({ level: "info" }));
    const logger = createLogger({ level: "silent" });
    const c = await make({ sources: [fileSource(file, { debounce: 10, poll: 100 })], logger });
    // The deadline also keeps the event loop alive: config's watchers never hold a process open.
    let t: NodeJS.Timeout | undefined;
    const logged = Promise.race([
      new Promise<unknown>((res) => logger.follow((r) => r.level === "error" && res(r.fields["error"]))),
      new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error("no error logged")), 5000))),
    ]).finally(() => clearTimeout(t));
    await writeFile(file, '{\n  "level": "debug",\n  oops\n}');
    const err = await logged;
    assert.ok(is400(err));
    assert.match((err as MicroError).detail, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:`));
    assert.equal(c.get("level").string(), "info");
    const it = c.watch("level")[Symbol.asyncIterator]();
    await writeFile(file, JSON.stringify({ level: "error" }));
    assert.equal((await nextValue(it)).string(), "error", "recovers when the file is fixed");
    await it.return!();
  });

  it("rejects the first load of a bad file with 400 naming file and line, and a missing one with 404", async () => {
    const file = await tmpFile("bad.json", '{\n"a": 1,\n"b": }');
    await assert.rejects(newConfig({ sources: [fileSource(file)] }), (e: unknown) => is400(e) && (e as MicroError).detail.includes(`${file}:3:`));
    await assert.rejects(newConfig({ sources: [fileSource(file + ".nope")] }), (e: unknown) => e instanceof MicroError && e.code === 404);
    const c = await make({ sources: [fileSource(file + ".nope", { optional: true })] });
    assert.deepEqual(c.redacted(), {});
  });

  it("accepts a parse hook for other formats", async () => {
    const file = await tmpFile("app.conf", "a=1\nb=two");
    const parse = (t: string) => Object.fromEntries(t.split("\n").map((l) => l.split("=")));
    const c = await make({ sources: [fileSource(file, { parse })] });
    assert.equal(c.get("b").string(), "two");
  });

  it("redacts listed secret paths and secret-looking keys in toJSON, redacted() and toString, but not in accessors", async () => {
    const c = await make({
      sources: [defaultsSource({ db: { host: "h", password: "pw", dsn: "postgres://u:p@h" }, api: { token: "t" }, name: "svc" })],
      secret: ["db.dsn"],
    });
    const expected = { db: { host: "h", password: "[redacted]", dsn: "[redacted]" }, api: { token: "[redacted]" }, name: "svc" };
    assert.deepEqual(c.redacted(), expected);
    assert.deepEqual(JSON.parse(JSON.stringify(c)), expected);
    assert.equal(String(c.get("db.password")), "[redacted]");
    assert.equal(`${c.get("db.dsn")}`, "[redacted]");
    assert.equal(JSON.stringify(c.get("db")), '{"host":"h","password":"[redacted]","dsn":"[redacted]"}');
    assert.equal(c.get("db.password").string(), "pw");
    assert.equal(c.get("db.dsn").string(), "postgres://u:p@h");
    assert.equal(String(c.get("name")), "svc");
  });

  it("scans through a Standard Schema, rejecting invalid config with 400", async () => {
    const schema: StandardSchemaV1<unknown, { port: number }> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate: (v) => {
          const port = (v as { port?: unknown } | undefined)?.port;
          return typeof port === "number" ? { value: { port } } : { issues: [{ message: "must be a number", path: ["port"] }] };
        },
      },
    };
    const c = await make({ sources: [defaultsSource({ http: { port: 8080, extra: 1 }, bad: { port: "x" } })] });
    assert.deepEqual(await c.scan(schema, "http"), { port: 8080 });
    await assert.rejects(c.scan(schema, "bad"), is400);
    assert.deepEqual(await c.scan(undefined, "http"), { port: 8080, extra: 1 });
  });

  it("close ends watches", async () => {
    const c = await newConfig({ sources: [] });
    const w = c.watch("a");
    const loop = (async () => {
      for await (const _ of w) void _;
    })();
    await c.close();
    await loop;
  });
});
