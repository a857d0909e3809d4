import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { silentLogger } from "../logger/logger.js";
import { runStoreConformance } from "./conformance.js";
import { fileStore, type FileStoreOptions } from "./file.js";
import { crc32, encodeFrame } from "./log.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "micro-store-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const open = (dir: string, o: FileStoreOptions = {}) => fileStore({ dir, logger: silentLogger(), ...o });

runStoreConformance({ name: "file", create: () => open(tempDir(), { table: "svc" }) });

describe("crc32", () => {
  it("matches the IEEE check value", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });
});

describe("fileStore", () => {
  it("does nothing until first used", () => {
    const dir = join(tempDir(), "not-yet");
    fileStore({ dir });
    assert.equal(existsSync(dir), false);
  });

  it("keeps records, bytes, metadata, expiry and deletes across reopen", async () => {
    const dir = tempDir();
    const a = open(dir);
    await a.write({ key: "json", value: { a: [1, 2] }, metadata: { m: 1 } });
    await a.write({ key: "bytes", value: new Uint8Array([9, 8, 7]) }, { database: "other", table: "t" });
    await a.write({ key: "ttl", value: 1, expiry: 60_000 });
    await a.write({ key: "gone", value: 1 });
    await a.delete("gone");
    await a.close();
    const b = open(dir);
    const [j] = await b.read("json");
    assert.deepEqual(j?.value, { a: [1, 2] });
    assert.deepEqual(j?.metadata, { m: 1 });
    assert.deepEqual((await b.read("bytes", { database: "other", table: "t" }))[0]?.value, new Uint8Array([9, 8, 7]));
    assert.ok(((await b.read("ttl"))[0]?.expiry ?? 0) > 50_000);
    await assert.rejects(b.read("gone"), { code: 404 });
    assert.deepEqual(await b.databases(), ["micro", "other"]);
    assert.deepEqual(await b.recovery().then((r) => r.map((x) => x.droppedBytes)), [0, 0]);
    await b.close();
  });

  it("drops a truncated tail, reports it and keeps every earlier record", async () => {
    const dir = tempDir();
    const a = open(dir);
    for (let i = 0; i < 5; i++) await a.write({ key: `k${i}`, value: `v${i}` });
    await a.close();
    const file = join(dir, "micro.log");
    const size = statSync(file).size;
    writeFileSync(file, readFileSync(file).subarray(0, size - 7));
    const warnings: string[] = [];
    const logger = silentLogger();
    logger.follow((r) => r.level === "warn" && warnings.push(r.msg));
    const b = open(dir, { logger });
    const [report] = await b.recovery();
    assert.equal(report?.entries, 4);
    assert.equal(report?.droppedEntries, 1);
    assert.ok((report?.droppedBytes ?? 0) > 7);
    assert.equal(warnings.length, 1);
    assert.deepEqual(await b.list(), ["k0", "k1", "k2", "k3"]);
    await b.write({ key: "k5", value: "v5" });
    await b.close();
    const c = open(dir);
    assert.deepEqual(await c.list(), ["k0", "k1", "k2", "k3", "k5"]);
    assert.equal((await c.recovery())[0]?.droppedBytes, 0);
    await c.close();
  });

  it("skips corrupted bytes in the middle, reports them and keeps the rest", async () => {
    const dir = tempDir();
    const a = open(dir);
    for (let i = 0; i < 5; i++) await a.write({ key: `k${i}`, value: "x".repeat(100) });
    await a.close();
    const file = join(dir, "micro.log");
    const buf = readFileSync(file);
    const frame = encodeFrame({ o: "p", t: "default", k: "k0", j: 1 }, Buffer.from(JSON.stringify("x".repeat(100))));
    assert.equal(buf.length, frame.length * 5);
    const at = frame.length * 2 + 40; // inside k2's payload
    buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at);
    writeFileSync(file, buf);
    const b = open(dir);
    const [report] = await b.recovery();
    assert.deepEqual(
      { entries: report?.entries, droppedEntries: report?.droppedEntries, droppedBytes: report?.droppedBytes },
      { entries: 4, droppedEntries: 1, droppedBytes: frame.length },
    );
    assert.deepEqual(await b.list(), ["k0", "k1", "k3", "k4"]);
    await b.write({ key: "k5", value: 5 });
    await b.close();
    const c = open(dir);
    assert.deepEqual(await c.list(), ["k0", "k1", "k3", "k4", "k5"]);
    assert.equal((await c.recovery())[0]?.droppedBytes, 0);
    await c.close();
  });

  it("compacts garbage away by itself once over the ratio, keeping live data", async () => {
    const dir = tempDir();
    const a = open(dir, { compactMinBytes: 4096, compactRatio: 0.5 });
    for (let round = 0; round < 50; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => a.write({ key: `k${i}`, value: { round, pad: "p".repeat(50) } })));
    }
    const size = statSync(join(dir, "micro.log")).size;
    assert.ok(size < 50 * 10 * 100 * 0.25, `log not compacted automatically: ${size} bytes`);
    await a.close();
    const b = open(dir);
    for (let i = 0; i < 10; i++) assert.equal(((await b.read(`k${i}`))[0]?.value as { round: number }).round, 49);
    await b.close();
  });

  it("compact() rewrites only live records, dropping deleted and expired ones", async () => {
    const dir = tempDir();
    const file = join(dir, "micro.log");
    const a = open(dir, { compactMinBytes: 1e12 });
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) await a.write({ key: `k${i}`, value: { round } });
    }
    await a.write({ key: "short", value: 1, expiry: 1 });
    await a.write({ key: "del", value: 1 });
    await a.delete("del");
    const before = statSync(file).size;
    await new Promise((r) => setTimeout(r, 5));
    await a.compact();
    const after = statSync(file).size;
    assert.ok(after * 15 < before, `compact() left ${after} of ${before} bytes`);
    await a.write({ key: "after", value: "compaction" });
    await a.close();
    const b = open(dir);
    for (let i = 0; i < 10; i++) assert.deepEqual((await b.read(`k${i}`))[0]?.value, { round: 19 });
    assert.deepEqual(await b.list(), ["after", ...Array.from({ length: 10 }, (_, i) => `k${i}`)]);
    await b.close();
  });

  it("acknowledges many concurrent writes, all durable", async () => {
    const dir = tempDir();
    const a = open(dir);
    await Promise.all(Array.from({ length: 500 }, (_, i) => a.write({ key: `k${String(i).padStart(3, "0")}`, value: i })));
    await a.close();
    const b = open(dir);
    const keys = await b.list();
    assert.equal(keys.length, 500);
    assert.equal((await b.read("k499"))[0]?.value, 499);
    await b.close();
  });

  it("keeps two stores on different dirs apart and refuses two on one dir", async () => {
    const a = open(tempDir());
    const b = open(tempDir());
    await a.write({ key: "k", value: 1 });
    assert.deepEqual(await b.list(), []);
    const dir = tempDir();
    const c = open(dir);
    await c.open();
    await assert.rejects(open(dir).open(), { code: 409 });
    await c.close();
    const d = open(dir);
    await d.open();
    await Promise.all([a.close(), b.close(), d.close()]);
  });
});
