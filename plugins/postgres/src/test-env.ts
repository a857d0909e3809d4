// Test helpers shared by this package's tests (not exported from the package).
import { randomUUID } from "node:crypto";
import pg from "pg";

/** The shared PostgreSQL server the tests run against; override with MICRO_POSTGRES_URL. */
export const POSTGRES_URL = process.env["MICRO_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

/** A schema of its own per test file and run. */
export const testSchema = (what: string): string => `micro_test_${what}_${randomUUID().slice(0, 8)}`;

export async function dropSchema(schema: string, url = POSTGRES_URL): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}
