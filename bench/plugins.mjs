#!/usr/bin/env node
// `npm run bench` (after run.mjs and state.mjs), or alone:
//   node --conditions=micro-source --import tsx bench/plugins.mjs
// The plugin benchmarks, against the shared servers on this machine:
//   - rpc over NATS, 2 processes: calls/s of Greeter.Hello through @micro-ts/nats's transport
//     (a Service on each side, discovery skipped with { address }) vs Moleculer with its NATS
//     transporter (a ServiceBroker on each side), the same calls in flight;
//   - broker publish→deliver: msgs/s from publish to the subscriber's handler, one publisher
//     and one subscriber instance per engine: nats, redis, rabbitmq, mqtt, and the default
//     http broker (memory registry, loopback).
// Prints progress on stderr; on stdout a table, one JSON line per result and one per ratio.
// An engine that is down is reported as skipped; a number never fails the run.
//
// Environment:
//   BENCH_PLUGIN_CALLS=20000   calls per rpc run       BENCH_INFLIGHT=100   calls in flight
//   BENCH_PLUGIN_MSGS=5000     messages per broker run BENCH_PLUGIN_RUNS=3  rounds (median)
//   MICRO_NATS_ADDRESS, MICRO_REDIS_URL, MICRO_RABBITMQ_URL, MICRO_MQTT_URL: the servers
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const env = process.env;
const CALLS = Number(env.BENCH_PLUGIN_CALLS || 20_000);
const INFLIGHT = Number(env.BENCH_INFLIGHT || 100);
const MSGS = Number(env.BENCH_PLUGIN_MSGS || 5_000);
const RUNS = Number(env.BENCH_PLUGIN_RUNS || 3);
const NATS = env.MICRO_NATS_ADDRESS || "127.0.0.1:4222";
const REDIS = env.MICRO_REDIS_URL || "redis://127.0.0.1:6379";
const RABBIT = env.MICRO_RABBITMQ_URL || "amqp://guest:guest@127.0.0.1:5672";
const MQTT = env.MICRO_MQTT_URL || "mqtt://127.0.0.1:1883";
const STEP_TIMEOUT = 60_000;
const self = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);
const log = (...a) => console.error("[bench:plugins]", ...a);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Rejects after ms, so that no step hangs the run. */
function bounded(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** Calls `call()` `n` times with `inflight` at once; resolves with calls/s. */
async function drive(n, inflight, call) {
  let sent = 0, done = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const next = () => {
      if (sent >= n) return;
      sent++;
      call().then(() => (++done === n ? resolve() : next()), reject);
    };
    for (let i = 0; i < Math.min(inflight, n); i++) next();
  });
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

// ---------------------------------------------------------------------------------------------
// server processes (this file, run with an argument)

async function serveMicro() {
  const m = await import("@micro-ts/micro");
  const { Service, memoryRegistry, silentLogger } = m;
  const { natsTransport } = await import("@micro-ts/nats");
  const s = new Service({ name: "greeter", broker: m.memoryBroker(), registry: memoryRegistry(), logger: silentLogger(), transport: natsTransport({ servers: NATS }) });
  class Greeter {
    async hello(req) {
      return { msg: `Hello ${req.name}` };
    }
  }
  s.handle(new Greeter());
  await s.start();
  const [rec] = await s.registry.getService("greeter");
  console.log(JSON.stringify({ address: rec.nodes[0].address }));
  process.on("SIGTERM", () => s.stop().finally(() => process.exit(0)));
}

async function serveMoleculer(namespace) {
  const { ServiceBroker } = require("moleculer");
  const b = new ServiceBroker({ namespace, nodeID: "server", logger: false, metrics: false, tracing: false, transporter: `nats://${NATS}` });
  b.createService({ name: "greeter", actions: { hello: (ctx) => ({ msg: `Hello ${ctx.params.name}` }) } });
  await b.start();
  console.log(JSON.stringify({ ready: true }));
  process.on("SIGTERM", () => b.stop().finally(() => process.exit(0)));
}

/** Starts this file as a server; resolves with its first JSON line and a stop function. */
function server(...args) {
  const child = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", self, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
  const first = new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once("exit", (c) => reject(new Error(`server ${args[0]} exited (${c})`)));
  });
  const stop = () =>
    new Promise((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once("exit", r);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
  return { ready: bounded(first, STEP_TIMEOUT, args[0]), stop };
}

// ---------------------------------------------------------------------------------------------
// the benches

async function rpcMicro() {
  const srv = server("serve-micro");
  try {
    const { address } = await srv.ready;
    const m = await import("@micro-ts/micro");
    const { Service, memoryRegistry, silentLogger } = m;
    const { natsTransport } = await import("@micro-ts/nats");
    const c = new Service({ name: "bench-client", broker: m.memoryBroker(), registry: memoryRegistry(), logger: silentLogger(), transport: natsTransport({ servers: NATS }) });
    const req = { name: "Ada" };
    const o = { address };
    try {
      const first = await c.client.call("greeter", "Greeter.Hello", req, o);
      if (first?.msg !== "Hello Ada") throw new Error(`unexpected reply ${JSON.stringify(first)}`);
      const rates = [];
      for (let r = 0; r < RUNS; r++) rates.push(await bounded(drive(CALLS, INFLIGHT, () => c.client.call("greeter", "Greeter.Hello", req, o)), STEP_TIMEOUT, "rpc micro"));
      return median(rates);
    } finally {
      await c.stop();
    }
  } finally {
    await srv.stop();
  }
}

async function rpcMoleculer() {
  const namespace = `bench-${randomUUID().slice(0, 8)}`;
  const srv = server("serve-moleculer", namespace);
  try {
    await srv.ready;
    const { ServiceBroker } = require("moleculer");
    const b = new ServiceBroker({ namespace, nodeID: "client", logger: false, metrics: false, tracing: false, transporter: `nats://${NATS}` });
    await b.start();
    try {
      await bounded(b.waitForServices("greeter"), STEP_TIMEOUT, "moleculer discovery");
      const req = { name: "Ada" };
      const first = await b.call("greeter.hello", req);
      if (first?.msg !== "Hello Ada") throw new Error(`unexpected reply ${JSON.stringify(first)}`);
      const rates = [];
      for (let r = 0; r < RUNS; r++) rates.push(await bounded(drive(CALLS, INFLIGHT, () => b.call("greeter.hello", req)), STEP_TIMEOUT, "rpc moleculer"));
      return median(rates);
    } finally {
      await b.stop();
    }
  } finally {
    await srv.stop();
  }
}

/** The broker pairs: a publisher and a subscriber instance (separate connections) per engine. */
async function brokers() {
  const m = await import("@micro-ts/micro");
  const registry = m.memoryRegistry();
  return {
    nats: async () => {
      const { natsBroker } = await import("@micro-ts/nats");
      return [natsBroker({ servers: NATS, timeout: 2000 }), natsBroker({ servers: NATS, timeout: 2000 })];
    },
    redis: async () => {
      const { redisBroker } = await import("@micro-ts/redis");
      return [redisBroker({ url: REDIS, timeout: 2000 }), redisBroker({ url: REDIS, timeout: 2000 })];
    },
    rabbitmq: async () => {
      const { rabbitmqBroker } = await import("@micro-ts/rabbitmq");
      const o = { url: RABBIT, exchange: "micro-bench", timeout: 2000 };
      return [rabbitmqBroker(o), rabbitmqBroker(o)];
    },
    mqtt: async () => {
      const { mqttBroker } = await import("@micro-ts/mqtt");
      const o = { url: MQTT, topicPrefix: "micro-bench/", timeout: 2000 };
      return [mqttBroker(o), mqttBroker(o)];
    },
    "http (default)": async () => [m.httpBroker({ registry }), m.httpBroker({ registry })],
  };
}

/** msgs/s from the first publish to the last delivery, `MSGS` messages, INFLIGHT publishes at once. */
async function pubsub(make) {
  const [pub, sub] = await make();
  const topic = `bench.${randomUUID().slice(0, 8)}`;
  const body = new TextEncoder().encode(JSON.stringify({ n: 1, text: "hello" }));
  try {
    const rates = [];
    for (let r = 0; r < RUNS; r++) {
      let got = 0;
      let all;
      const delivered = new Promise((res) => (all = res));
      const s = await sub.subscribe(`${topic}.${r}`, () => {
        if (++got === MSGS) all();
      });
      try {
        await bounded(pub.publish(`${topic}.${r}.warm`, { header: { "content-type": "application/json" }, body }), STEP_TIMEOUT, "warm-up publish");
        const t0 = process.hrtime.bigint();
        await bounded(drive(MSGS, INFLIGHT, () => pub.publish(`${topic}.${r}`, { header: { "content-type": "application/json" }, body })), STEP_TIMEOUT, "publish");
        await bounded(delivered, STEP_TIMEOUT, `delivery (${got}/${MSGS})`);
        rates.push(MSGS / (Number(process.hrtime.bigint() - t0) / 1e9));
      } finally {
        await s.unsubscribe();
      }
    }
    return median(rates);
  } finally {
    await Promise.allSettled([pub.close(), sub.close()]);
  }
}

async function main() {
  const results = [];
  const run = async (bench, variant, what, unit, fn) => {
    log(`${bench} ${variant} ...`);
    try {
      const value = Math.round(await fn());
      results.push({ bench, variant, what, unit, value });
    } catch (e) {
      log(`${bench} ${variant} skipped: ${e?.message ?? e}`);
      results.push({ bench, variant, what, unit, value: null, skipped: String(e?.message ?? e) });
    }
  };
  await run("rpc-nats-2proc", "micro", "Greeter.Hello over @micro-ts/nats transport, 2 processes", "calls/s", rpcMicro);
  await run("rpc-nats-2proc", "moleculer", "greeter.hello over Moleculer's NATS transporter, 2 processes", "calls/s", rpcMoleculer);
  for (const [name, make] of Object.entries(await brokers())) {
    await run("broker-pubsub", name, `publish→deliver, ${MSGS} msgs, ${INFLIGHT} publishes in flight`, "msgs/s", () => bounded(pubsub(make), 3 * STEP_TIMEOUT, name));
  }

  const rows = results.map((r) => [r.bench, r.variant, r.value === null ? `skipped (${r.skipped})` : `${r.value.toLocaleString("en-US")} ${r.unit}`]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 6));
  console.log(`\n| ${"bench".padEnd(w[0])} | ${"variant".padEnd(w[1])} | ${"result".padEnd(w[2])} |`);
  console.log(`| ${"-".repeat(w[0])} | ${"-".repeat(w[1])} | ${"-".repeat(w[2])} |`);
  for (const r of rows) console.log(`| ${r[0].padEnd(w[0])} | ${r[1].padEnd(w[1])} | ${r[2].padEnd(w[2])} |`);
  console.log("");
  for (const r of results) console.log(JSON.stringify({ ...r, calls: r.unit === "calls/s" ? CALLS : MSGS, inflight: INFLIGHT, runs: RUNS }));
  const get = (b, v) => results.find((r) => r.bench === b && r.variant === v)?.value;
  const ratio = (name, a, b) => {
    if (a && b) console.log(JSON.stringify({ ratio: name, value: +(a / b).toFixed(2) }));
  };
  ratio("rpc-nats micro/moleculer", get("rpc-nats-2proc", "micro"), get("rpc-nats-2proc", "moleculer"));
  for (const v of ["redis", "rabbitmq", "mqtt", "http (default)"]) ratio(`broker-pubsub nats/${v}`, get("broker-pubsub", "nats"), get("broker-pubsub", v));
}

const [mode, arg] = process.argv.slice(2);
if (mode === "serve-micro") await serveMicro();
else if (mode === "serve-moleculer") await serveMoleculer(arg);
else {
  await main();
  process.exit(0);
}
