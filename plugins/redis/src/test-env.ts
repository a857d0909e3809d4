// Test helpers shared by this package's tests (not exported from the package).
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";

/** The shared Redis server the tests run against; override with MICRO_REDIS_URL. */
export const REDIS_URL = process.env["MICRO_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A namespace of its own per test file and run, so runs never see each other's keys. */
export const testNamespace = (what: string): string => `micro-test-${what}-${randomUUID().slice(0, 8)}`;

/** Deletes every key under `namespace` (SCAN, never KEYS). */
export async function dropNamespace(namespace: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${namespace}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}
