import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runStoreConformance } from "@micro-ts/micro/conformance";
import pg from "pg";
import { postgresStore, tableName } from "./store.js";
import { dropSchema, POSTGRES_URL, testSchema } from "./test-env.js";

const schema = testSchema("store");
runStoreConformance({ name: "postgres", create: () => postgresStore({ url: POSTGRES_URL, schema }) });
after(() => dropSchema(schema));

describe("postgres store specifics", () => {
  it("keeps a table per database/table with sanitized, unique names and typed columns", async () => {
    const s = postgresStore({ url: POSTGRES_URL, schema, database: "My DB", table: 'we"ird; drop' });
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    try {
      await s.write({ key: "k", value: new Uint8Array([1, 2]), metadata: { a: 1 }, expiry: 60_000 });
      const name = tableName("My DB", 'we"ird; drop');
      assert.match(name, /^[a-z0-9_]+$/);
      assert.notEqual(tableName("a-b", "c"), tableName("a_b", "c"));
      const { rows } = await c.query(`SELECT json, metadata, expires_at IS NOT NULL AS exp, version FROM "${schema}"."${name}"`);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].json, false);
      assert.deepEqual(rows[0].metadata, { a: 1 });
      assert.equal(rows[0].exp, true);
      assert.deepEqual(await s.tables("My DB"), ['we"ird; drop']);
    } finally {
      await s.close();
      await c.end();
    }
  });

  it("treats LIKE wildcards in prefix and suffix literally", async () => {
    const s = postgresStore({ url: POSTGRES_URL, schema, table: "wild" });
    try {
      for (const k of ["a%1", "a_2", "ab", "a\\c", "x%", "y_"]) await s.write({ key: k, value: 1 });
      assert.deepEqual(await s.list({ prefix: "a%" }), ["a%1"]);
      assert.deepEqual(await s.list({ prefix: "a_" }), ["a_2"]);
      assert.deepEqual(await s.list({ prefix: "a\\" }), ["a\\c"]);
      assert.deepEqual(await s.list({ suffix: "%" }), ["x%"]);
      assert.deepEqual(await s.list({ suffix: "_" }), ["y_"]);
    } finally {
      await s.close();
    }
  });
});
