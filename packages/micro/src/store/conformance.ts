/**
 * The shared store suite: every implementation, in core or in a plugin, runs it.
 *   runStoreConformance({ name: "memory", create: () => memoryStore({ table: "svc" }) })
 * `create` must return a store whose default database is "micro"; each test uses its own table,
 * so stores may share a backend between tests.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import type { Store, StoreRecord } from "./store.js";

export interface StoreConformanceOptions {
  name: string;
  create: () => Store | Promise<Store>;
  /** Called once after every test, e.g. to remove a temporary directory. */
  cleanup?: () => void | Promise<void>;
  /** The shortest expiry the implementation honours, in ms. @default 100 */
  minTTL?: number;
  /** The store's value size limit, in bytes. @default 4 MiB */
  maxValueSize?: number;
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MicroError, `expected a MicroError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runStoreConformance(opts: StoreConformanceOptions): void {
  const minTTL = opts.minTTL ?? 100;
  const maxValueSize = opts.maxValueSize ?? 4 * 1024 * 1024;
  describe(`store conformance: ${opts.name}`, () => {
    const open: Store[] = [];
    after(async () => {
      await Promise.all(open.map((s) => s.close()));
      await opts.cleanup?.();
    });
    /** A store plus a table of its own for this test. */
    const make = async () => {
      const s = await opts.create();
      open.push(s);
      return { s, table: `t-${randomUUID().slice(0, 8)}` };
    };

    it("writes, reads, overwrites and deletes a record", async () => {
      const { s, table } = await make();
      await s.write({ key: "a", value: { n: 1 }, metadata: { by: "test" } }, { table });
      const [r] = await s.read("a", { table });
      assert.deepEqual(r?.value, { n: 1 });
      assert.deepEqual(r?.metadata, { by: "test" });
      assert.equal(r?.key, "a");
      await s.write({ key: "a", value: "two" }, { table });
      assert.equal((await s.read("a", { table }))[0]?.value, "two");
      await s.delete("a", { table });
      await rejectsWith(s.read("a", { table }), 404);
    });

    it("rejects a read of a missing key with 404", async () => {
      const { s, table } = await make();
      await rejectsWith(s.read("missing", { table }), 404);
    });

    it("round-trips bytes as Uint8Array and JSON as the parsed value", async () => {
      const { s, table } = await make();
      const bytes = new Uint8Array([0, 1, 2, 255, 34, 123]);
      await s.write({ key: "b", value: bytes }, { table });
      await s.write({ key: "j", value: [1, "x", { y: null, z: true }] }, { table });
      await s.write({ key: "s", value: "just a string" }, { table });
      await s.write({ key: "n", value: 42 }, { table });
      const b = (await s.read("b", { table }))[0]?.value;
      assert.deepEqual(b, bytes);
      const fromBuffer = Buffer.from([7, 7]);
      await s.write({ key: "buf", value: fromBuffer }, { table });
      assert.deepEqual((await s.read("buf", { table }))[0]?.value, new Uint8Array([7, 7]));
      assert.deepEqual((await s.read("j", { table }))[0]?.value, [1, "x", { y: null, z: true }]);
      assert.equal((await s.read("s", { table }))[0]?.value, "just a string");
      assert.equal((await s.read("n", { table }))[0]?.value, 42);
    });

    it("keeps its own copy of written values", async () => {
      const { s, table } = await make();
      const bytes = new Uint8Array([1, 2, 3]);
      const obj = { a: 1 };
      await s.write({ key: "b", value: bytes }, { table });
      await s.write({ key: "o", value: obj }, { table });
      bytes[0] = 9;
      obj.a = 2;
      assert.deepEqual([...((await s.read("b", { table }))[0]?.value as Uint8Array)], [1, 2, 3]);
      assert.deepEqual((await s.read("o", { table }))[0]?.value, { a: 1 });
    });

    it("reads by prefix and suffix with limit and offset, sorted by key", async () => {
      const { s, table } = await make();
      for (const k of ["user/3", "user/1", "user/2", "order/1", "x-user/9"]) {
        await s.write({ key: k, value: k }, { table });
      }
      const keys = (rs: StoreRecord[]) => rs.map((r) => r.key);
      assert.deepEqual(keys(await s.read("user/", { table, prefix: true })), ["user/1", "user/2", "user/3"]);
      assert.deepEqual(keys(await s.read("user/", { table, prefix: true, limit: 2 })), ["user/1", "user/2"]);
      assert.deepEqual(keys(await s.read("user/", { table, prefix: true, offset: 1, limit: 1 })), ["user/2"]);
      assert.deepEqual(keys(await s.read("/1", { table, suffix: true })), ["order/1", "user/1"]);
      assert.deepEqual(keys(await s.read("nothing", { table, prefix: true })), []);
      assert.equal((await s.read("user/3", { table, prefix: true }))[0]?.value, "user/3");
    });

    it("lists keys sorted, by prefix and suffix, with limit and offset", async () => {
      const { s, table } = await make();
      for (const k of ["c", "a/1", "b", "a/2", "a/3"]) await s.write({ key: k, value: 1 }, { table });
      assert.deepEqual(await s.list({ table }), ["a/1", "a/2", "a/3", "b", "c"]);
      assert.deepEqual(await s.list({ table, prefix: "a/" }), ["a/1", "a/2", "a/3"]);
      assert.deepEqual(await s.list({ table, suffix: "/2" }), ["a/2"]);
      assert.deepEqual(await s.list({ table, limit: 2 }), ["a/1", "a/2"]);
      assert.deepEqual(await s.list({ table, offset: 3 }), ["b", "c"]);
      assert.deepEqual(await s.list({ table, offset: 1, limit: 2, prefix: "a/" }), ["a/2", "a/3"]);
      assert.deepEqual(await s.list({ table: `${table}-empty` }), []);
    });

    it("hides expired records from read and list and reports the time left", async () => {
      const { s, table } = await make();
      await s.write({ key: "short", value: 1, expiry: minTTL }, { table });
      await s.write({ key: "long", value: 2, expiry: 60_000 }, { table });
      await s.write({ key: "forever", value: 3 }, { table });
      const [long] = await s.read("long", { table });
      assert.ok(long?.expiry !== undefined && long.expiry > 50_000 && long.expiry <= 60_000);
      assert.equal((await s.read("forever", { table }))[0]?.expiry, undefined);
      assert.deepEqual(await s.list({ table }), ["forever", "long", "short"]);
      await sleep(minTTL + 50);
      await rejectsWith(s.read("short", { table }), 404);
      assert.deepEqual(await s.list({ table }), ["forever", "long"]);
      assert.deepEqual((await s.read("", { table, prefix: true })).map((r) => r.key), ["forever", "long"]);
    });

    it("scopes records by database and table", async () => {
      const { s, table } = await make();
      const other = `${table}-other`;
      const db = `db-${randomUUID().slice(0, 8)}`;
      await s.write({ key: "k", value: "default-db" }, { table });
      await s.write({ key: "k", value: "other-table" }, { table: other });
      await s.write({ key: "k", value: "other-db" }, { database: db, table });
      assert.equal((await s.read("k", { table }))[0]?.value, "default-db");
      assert.equal((await s.read("k", { table: other }))[0]?.value, "other-table");
      assert.equal((await s.read("k", { database: db, table }))[0]?.value, "other-db");
      await s.delete("k", { database: db, table });
      assert.equal((await s.read("k", { table }))[0]?.value, "default-db");
      await rejectsWith(s.read("k", { database: db, table }), 404);
      await s.write({ key: "k2", value: 1 }, { database: db, table: other });
      assert.deepEqual(await s.list({ database: db, table: other }), ["k2"]);
      assert.deepEqual(await s.list({ database: db, table }), []);
    });

    it("lists databases and tables that hold records", async () => {
      const { s, table } = await make();
      const db = `db-${randomUUID().slice(0, 8)}`;
      await s.write({ key: "k", value: 1 }, { database: db, table: `${table}-b` });
      await s.write({ key: "k", value: 1 }, { database: db, table: `${table}-a` });
      await s.write({ key: "k", value: 1 }, { table });
      assert.ok((await s.databases()).includes(db));
      assert.ok((await s.databases()).includes("micro"));
      assert.deepEqual(await s.tables(db), [`${table}-a`, `${table}-b`]);
      assert.ok((await s.tables("micro")).includes(table));
      await s.delete("k", { database: db, table: `${table}-a` });
      assert.deepEqual(await s.tables(db), [`${table}-b`]);
    });

    it("rejects invalid keys with 400", async () => {
      const { s, table } = await make();
      const long = "k".repeat(1025);
      await rejectsWith(s.write({ key: "", value: 1 }, { table }), 400);
      await rejectsWith(s.write({ key: long, value: 1 }, { table }), 400);
      await rejectsWith(s.read("", { table }), 400);
      await rejectsWith(s.read(long, { table }), 400);
      await rejectsWith(s.delete("", { table }), 400);
      // 1024 bytes exactly is accepted, counted in UTF-8 bytes.
      await s.write({ key: "k".repeat(1024), value: 1 }, { table });
      await rejectsWith(s.write({ key: "é".repeat(513), value: 1 }, { table }), 400);
    });

    it("rejects values that are not bytes or JSON with 400", async () => {
      const { s, table } = await make();
      await rejectsWith(s.write({ key: "u", value: undefined as never }, { table }), 400);
      await rejectsWith(s.write({ key: "big", value: 1n as never }, { table }), 400);
    });

    it("rejects an oversized value with 413 and keeps the old one", async () => {
      const { s, table } = await make();
      await s.write({ key: "v", value: "small" }, { table });
      await rejectsWith(s.write({ key: "v", value: new Uint8Array(maxValueSize + 1) }, { table }), 413);
      await rejectsWith(s.write({ key: "v", value: "x".repeat(maxValueSize) }, { table }), 413);
      assert.equal((await s.read("v", { table }))[0]?.value, "small");
      await s.write({ key: "max", value: new Uint8Array(maxValueSize) }, { table });
      assert.equal(((await s.read("max", { table }))[0]?.value as Uint8Array).byteLength, maxValueSize);
    });

    it("deletes a missing key without error", async () => {
      const { s, table } = await make();
      await s.delete("never-written", { table });
      await s.write({ key: "k", value: 1 }, { table });
      await s.delete("k", { table });
      await s.delete("k", { table });
      assert.deepEqual(await s.list({ table }), []);
    });

    it("compares and sets with ifVersion and ifNotExists, rejecting with 409", async () => {
      const { s, table } = await make();
      await s.write({ key: "c", value: 1 }, { table, ifNotExists: true });
      await rejectsWith(s.write({ key: "c", value: 2 }, { table, ifNotExists: true }), 409);
      const v1 = (await s.read("c", { table }))[0]?.version;
      assert.equal(typeof v1, "string");
      await s.write({ key: "c", value: 3 }, { table, ifVersion: v1! });
      const v2 = (await s.read("c", { table }))[0]?.version;
      assert.notEqual(v2, v1);
      await rejectsWith(s.write({ key: "c", value: 4 }, { table, ifVersion: v1! }), 409);
      assert.equal((await s.read("c", { table }))[0]?.value, 3);
      await s.delete("c", { table });
      await rejectsWith(s.write({ key: "c", value: 5 }, { table, ifVersion: v2! }), 409);
      await s.write({ key: "c", value: 6, expiry: minTTL }, { table, ifNotExists: true });
      await sleep(minTTL + 50);
      await s.write({ key: "c", value: 7 }, { table, ifNotExists: true });
      assert.equal((await s.read("c", { table }))[0]?.value, 7);
    });

    it("lets exactly one of many concurrent conditional writes win", async () => {
      const { s, table } = await make();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.write({ key: "race", value: i }, { table, ifNotExists: true })),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      for (const r of results) if (r.status === "rejected") assert.equal((r.reason as MicroError).code, 409);
    });

    it("rejects calls after close with 503", async () => {
      const s = await opts.create();
      await s.close();
      await s.close();
      await rejectsWith(s.read("k"), 503);
      await rejectsWith(s.write({ key: "k", value: 1 }), 503);
    });
  });
}
