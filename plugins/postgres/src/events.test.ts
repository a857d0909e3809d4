import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runEventsConformance } from "@micro-ts/micro/conformance";
import pg from "pg";
import { postgresEvents } from "./events.js";
import { dropSchema, POSTGRES_URL, testSchema } from "./test-env.js";

const schema = testSchema("events");
runEventsConformance({ name: "postgres", create: () => postgresEvents({ url: POSTGRES_URL, schema }) });
after(() => dropSchema(schema));

describe("postgres events specifics", () => {
  it("shares a group across instances (processes) and keeps events in tables of its schema", async () => {
    const a = postgresEvents({ url: POSTGRES_URL, schema });
    const b = postgresEvents({ url: POSTGRES_URL, schema });
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    try {
      const topic = `shared-${Date.now()}`;
      const ca = a.consume(topic, { group: "g", offset: "earliest" })[Symbol.asyncIterator]();
      const cb = b.consume(topic, { group: "g", offset: "earliest" })[Symbol.asyncIterator]();
      const got = [ca.next(), cb.next()];
      // b publishes: a wakes on the NOTIFY from another connection.
      await b.publish(topic, 1);
      await b.publish(topic, 2);
      const values = (await Promise.all(got)).map((r) => r.value?.payload).sort();
      assert.deepEqual(values, [1, 2]);
      const { rows } = await c.query(`SELECT seq::int AS seq FROM "${schema}".events WHERE topic = $1 ORDER BY seq`, [topic]);
      assert.deepEqual(rows.map((r) => r.seq), [1, 2]);
      await ca.return!();
      await cb.return!();
      const left = await c.query(`SELECT count(*)::int AS n FROM "${schema}".pending WHERE topic = $1`, [topic]);
      assert.equal(left.rows[0].n, 0, "autoAck on leaving the loops acked both");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await c.end();
    }
  });
});
