/** Health checks: named functions run concurrently, each bounded by a timeout. */
import { performance } from "node:perf_hooks";
import type { CheckResult, HealthCheck, HealthResponse } from "./debug.js";

async function runOne(fn: HealthCheck, timeout: number): Promise<CheckResult> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout);
    });
    const v = await Promise.race([Promise.resolve().then(fn), limit]);
    if (v === false) return { status: "failing", error: "check returned false", duration: performance.now() - t0 };
    return { status: "ok", duration: performance.now() - t0 };
  } catch (e) {
    return { status: "failing", error: e instanceof Error ? e.message : String(e), duration: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check; "degraded" if any fails. Never throws. */
export async function runChecks(checks: ReadonlyMap<string, HealthCheck>, timeout = 2000): Promise<HealthResponse> {
  const names = [...checks.keys()];
  const results = await Promise.all(names.map((n) => runOne(checks.get(n)!, timeout)));
  const out: HealthResponse = { status: "ok", checks: {} };
  results.forEach((r, i) => {
    out.checks[names[i]!] = r;
    if (r.status !== "ok") out.status = "degraded";
  });
  return out;
}
