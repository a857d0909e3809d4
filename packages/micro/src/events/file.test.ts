import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createLogger } from "../logger/logger.js";
import { runEventsConformance } from "./conformance.js";
import { crc32 } from "./crc32.js";
import type { Events } from "./events.js";
import { fileEvents } from "./file.js";

const dirs = new WeakMap<Events, string>();
const tmp = () => mkdtemp(join(tmpdir(), "micro-events-"));

runEventsConformance({
  name: "file",
  create: async () => {
    const dir = await tmp();
    const ev = await fileEvents({ dir });
    dirs.set(ev, dir);
    return ev;
  },
  cleanup: async (ev) => {
    const dir = dirs.get(ev);
    if (dir) await rm(dir, { recursive: true, force: true });
  },
});

describe("file events", () => {
  it("computes the standard CRC-32", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  it("keeps events, order and payload types across a reopen, including concurrent publishes", async () => {
    const dir = await tmp();
    try {
      const a = await fileEvents({ dir });
      const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => a.publish("orders", { i })));
      await a.publish("bytes", new Uint8Array([1, 2, 3]), { metadata: { m: "x" } });
      await a.close();
      const b = await fileEvents({ dir });
      const got = await b.read("orders");
      assert.deepEqual(got.map((e) => e.id), ids);
      assert.deepEqual(got.map((e) => e.payload), ids.map((_, i) => ({ i })));
      const [bytes] = await b.read("bytes");
      assert.deepEqual(bytes?.payload, new Uint8Array([1, 2, 3]));
      assert.deepEqual(bytes?.metadata, { m: "x" });
      assert.deepEqual(await b.topics(), ["bytes", "orders"]);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a group continues from its acked position after a reopen", async () => {
    const dir = await tmp();
    try {
      const a = await fileEvents({ dir });
      const c = a.consume("t", { group: "billing", autoAck: false, offset: "earliest" });
      for (let i = 0; i < 4; i++) await a.publish("t", i);
      const it = c[Symbol.asyncIterator]();
      const e0 = (await it.next()).value;
      const e1 = (await it.next()).value;
      const e2 = (await it.next()).value;
      await e0.ack();
      await e2.ack(); // e1 stays unacked: it must come back after the restart, e2 must not
      assert.equal(e1.payload, 1);
      await a.close();
      const b = await fileEvents({ dir });
      const it2 = b.consume("t", { group: "billing", offset: "latest" })[Symbol.asyncIterator]();
      assert.equal((await it2.next()).value.payload, 1);
      assert.equal((await it2.next()).value.payload, 3);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a new group's 'latest' start is recorded, so events published while it is away are not skipped", async () => {
    const dir = await tmp();
    try {
      const a = await fileEvents({ dir });
      await a.publish("t", "before");
      const c = a.consume("t", { group: "g" });
      await c.stop();
      await a.close();
      const b = await fileEvents({ dir });
      await b.publish("t", "while away");
      const it = b.consume("t", { group: "g" })[Symbol.asyncIterator]();
      assert.equal((await it.next()).value.payload, "while away");
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("cuts a torn tail on open, reports it, and keeps appending after the good prefix", async () => {
    const dir = await tmp();
    try {
      const a = await fileEvents({ dir });
      await a.publish("t", "one");
      await a.publish("t", "two");
      await a.close();
      const file = join(dir, "topics", "t.log");
      const good = (await stat(file)).size;
      await appendFile(file, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 123, 34])); // header + partial body
      const logger = createLogger({ level: "silent" });
      const b = await fileEvents({ dir, logger });
      assert.deepEqual((await b.read("t")).map((e) => e.payload), ["one", "two"]);
      assert.equal((await stat(file)).size, good);
      const report = logger.records().find((r) => r.level === "warn");
      assert.equal(report?.fields["droppedBytes"], 10);
      assert.equal(report?.fields["topic"], "t");
      await b.publish("t", "three");
      await b.close();
      const c = await fileEvents({ dir });
      assert.deepEqual((await c.read("t")).map((e) => e.payload), ["one", "two", "three"]);
      await c.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("drops a frame whose checksum does not match, and what follows it", async () => {
    const dir = await tmp();
    try {
      const a = await fileEvents({ dir });
      await a.publish("t", "aaaa");
      await a.publish("t", "bbbb");
      await a.close();
      const file = join(dir, "topics", "t.log");
      const buf = await readFile(file);
      const at = buf.lastIndexOf("bbbb");
      buf[at] = "c".charCodeAt(0);
      const { writeFile } = await import("node:fs/promises");
      await writeFile(file, buf);
      const b = await fileEvents({ dir, logger: createLogger({ level: "silent" }) });
      assert.deepEqual((await b.read("t")).map((e) => e.payload), ["aaaa"]);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
