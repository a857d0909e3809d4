#!/usr/bin/env node
// State benchmarks, one run, side by side: store writes/reads per second and events
// published/consumed per second, for the core defaults and every installed plugin whose
// engine answers on loopback. Prints a table, ratios against the file store / file events,
// and one JSON line per result. Never fails on a number.
//   node --conditions=micro-source --import tsx state.mjs     (npm run bench runs it)
//   BENCH_STATE_OPS=5000 BENCH_STATE_INFLIGHT=50
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { fileEvents, fileStore, memoryEvents, memoryStore } from "@micro-ts/micro";

const OPS = Number(process.env.BENCH_STATE_OPS || 5000);
const INFLIGHT = Number(process.env.BENCH_STATE_INFLIGHT || 50);
const dir = mkdtempSync(join(tmpdir(), "micro-bench-state-"));
const run = randomUUID().slice(0, 8);

async function tryPlugin(pkg, name, make) {
  try {
    const mod = await import(pkg);
    if (typeof mod[name] !== "function") return undefined;
    const impl = await make(mod[name]);
    return impl;
  } catch (e) {
    console.error(`[state] ${pkg}.${name}: skipped (${e?.code ?? ""} ${String(e?.message ?? e).split("\n")[0]})`);
    return undefined;
  }
}

async function pool(n, fn) {
  let i = 0;
  const worker = async () => {
    while (i < n) await fn(i++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  return Math.round(n / ((performance.now() - t0) / 1000));
}

const results = [];
const add = (bench, variant, value, unit) => {
  results.push({ type: "result", bench, variant, value, unit, ops: OPS, inflight: INFLIGHT });
};

// --- store ---
const stores = [
  ["memory", () => memoryStore({ table: `bench${run}` })],
  ["file", () => fileStore({ dir: join(dir, "store"), table: `bench${run}` })],
  ["postgres", () => tryPlugin("@micro-ts/postgres", "postgresStore", (f) => f({ url: "postgres://postgres@127.0.0.1:5432/test", table: `bench${run}` }))],
  ["redis", () => tryPlugin("@micro-ts/redis", "redisStore", (f) => f({ url: "redis://127.0.0.1:6379", table: `bench${run}` }))],
];
for (const [variant, make] of stores) {
  const store = await make();
  if (!store) continue;
  try {
    const value = { name: "Ada", n: 1 };
    add("store-write", variant, await pool(OPS, (i) => store.write({ key: `k${i}`, value })), "writes/s");
    add("store-read", variant, await pool(OPS, (i) => store.read(`k${i}`)), "reads/s");
    for (let i = 0; i < OPS; i += 500) await Promise.all(Array.from({ length: Math.min(500, OPS - i) }, (_, j) => store.delete(`k${i + j}`)));
  } catch (e) {
    console.error(`[state] store ${variant} failed: ${e?.message ?? e}`);
  } finally {
    await store.close();
  }
}

// --- events ---
const eventImpls = [
  ["memory", () => memoryEvents()],
  ["file", () => fileEvents({ dir: join(dir, "events") })],
  ["nats-jetstream", () => tryPlugin("@micro-ts/nats", "natsEvents", (f) => f({ servers: "127.0.0.1:4222" }))],
  ["postgres", () => tryPlugin("@micro-ts/postgres", "postgresEvents", (f) => f({ url: "postgres://postgres@127.0.0.1:5432/test" }))],
  ["redis-streams", () => tryPlugin("@micro-ts/redis", "redisEvents", (f) => f({ url: "redis://127.0.0.1:6379" }))],
];
for (const [variant, make] of eventImpls) {
  const events = await make();
  if (!events) continue;
  const topic = `bench-${run}-${variant}`;
  try {
    add("events-publish", variant, await pool(OPS, (i) => events.publish(topic, { i })), "events/s");
    const consumer = events.consume(topic, { group: "bench", offset: "earliest" });
    const t0 = performance.now();
    let n = 0;
    for await (const _ of consumer) if (++n === OPS) break;
    add("events-consume", variant, Math.round(OPS / ((performance.now() - t0) / 1000)), "events/s");
  } catch (e) {
    console.error(`[state] events ${variant} failed: ${e?.message ?? e}`);
  } finally {
    await events.close();
  }
}
rmSync(dir, { recursive: true, force: true });

const base = (bench) => results.find((r) => r.bench === bench && r.variant === "file")?.value;
console.log(`\nstate: ${OPS} ops, ${INFLIGHT} in flight`);
console.log(`${"bench".padEnd(16)} ${"variant".padEnd(16)} ${"value".padStart(10)} unit        vs file`);
for (const r of results) {
  const b = base(r.bench);
  console.log(`${r.bench.padEnd(16)} ${r.variant.padEnd(16)} ${String(r.value).padStart(10)} ${r.unit.padEnd(11)} ${b ? (r.value / b).toFixed(2) + "x" : ""}`);
}
console.log();
for (const r of results) console.log(JSON.stringify(r));
process.exit(0);
