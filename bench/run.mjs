#!/usr/bin/env node
// `npm run bench` (from the repository root): every benchmark of docs/benchmarks.md in one
// run on this machine, beside the peer baselines of shared/bench/peers, reported as ratios.
//
// Prints progress on stderr; on stdout a table, one JSON line per result and one per ratio.
// A missed target is reported, never fatal: the exit code is non-zero only when a
// benchmark crashed. Everything is loopback and bounded (about 1.5 minutes on 2 cores).
//
// Environment:
//   BENCH_RUNS=3          rounds of the throughput benches (the median is reported)
//   BENCH_CALLS=100000    calls per 2-process run (ours and the peers alike)
//   BENCH_INPROC_CALLS=200000  calls per in-process run (ours and Moleculer local)
//   BENCH_INFLIGHT=100    calls in flight
//   BENCH_COLD_RUNS=5     cold starts per variant (the median is reported)
//   BENCH_GATEWAY=0       skip the HTTP gateway baselines
//   BENCH_PEERS_DIR=...   the peer programs (default: ../shared/bench/peers beside the repo)
//   BENCH_ONLY=a,b        run only these benches (names as in the table's first column)
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const env = process.env;
const RUNS = Number(env.BENCH_RUNS || 3);
const CALLS = Number(env.BENCH_CALLS || 100_000);
const INPROC_CALLS = Number(env.BENCH_INPROC_CALLS || 200_000);
const INFLIGHT = Number(env.BENCH_INFLIGHT || 100);
const COLD_RUNS = Number(env.BENCH_COLD_RUNS || 5);
const GATEWAY = env.BENCH_GATEWAY !== "0";
const ONLY = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(",")) : undefined;
const PEERS = path.resolve(env.BENCH_PEERS_DIR || path.join(root, "..", "shared", "bench", "peers"));
const CHILD_TIMEOUT = 90_000;

// How our code is run: the compiled package (dist, what `npm run bench` builds first) or
// the TypeScript source through tsx (transpiled at load: slower to start, same steady state).
const MODES = {
  dist: [],
  tsx: ["--conditions=micro-source", "--import", "tsx"],
};
// Peers resolve moleculer & co. from bench/node_modules or, with npm workspaces' hoisting,
// from the root node_modules.
const NODE_PATH = [path.join(here, "node_modules"), path.join(root, "node_modules"), env.NODE_PATH].filter(Boolean).join(path.delimiter);
const childEnv = { ...env, NODE_PATH };

const log = (...a) => console.error("[bench]", ...a);
let crashed = 0;
const wanted = (name) => !ONLY || ONLY.has(name);

// ---------------------------------------------------------------------------------------------
// child processes

/** Runs a node program to completion; resolves with its last JSON line on stdout. */
function runJson(args, { cwd = here, timeout = CHILD_TIMEOUT } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const lines = out.split("\n").filter((l) => l.startsWith("{"));
      const last = lines.at(-1);
      if (code === 0 && last) return resolve(JSON.parse(last));
      reject(new Error(`${path.basename(args.find((a) => /\.[cm]?js$/.test(a)) ?? "node")} exited ${code ?? signal}: ${(err || out).trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

/**
 * Spawns a long-running program and resolves once it printed {"event":"registered"}, with
 * the wall time from spawn to that line as seen here. `waitFor` may ask for a later event.
 */
function startChild(args, { extraEnv = {}, waitFor = "registered", cwd = here } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd, env: { ...childEnv, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let buf = "", err = "", registeredMs, registered;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.at(-1)}: no "${waitFor}" within 30 s`));
    }, 30_000);
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith("{")) continue;
        const ev = JSON.parse(line);
        if (ev.event === "registered") {
          registeredMs = Number(process.hrtime.bigint() - t0) / 1e6;
          registered = ev;
        }
        if (ev.event === waitFor) {
          clearTimeout(timer);
          resolve({ child, registered, registeredMs, event: ev, stop: () => stopChild(child) });
        }
      }
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.at(-1)} exited ${code} before "${waitFor}": ${err.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

/** Compiles a package (its tsconfig.build.json, relative to the repository root). */
function tsc(project) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, project)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tsc -p ${project} exited ${code}: ${out.trim().split("\n").slice(0, 5).join(" | ")}`))));
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("close", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

// ---------------------------------------------------------------------------------------------
// the benches

const src = (f) => path.join(here, "src", f);
const peer = (f) => path.join(PEERS, f);
const havePeers = existsSync(peer("moleculer-rpc.cjs"));

/** ours, two processes: the greeter server and a client process calling it with { address }. */
async function rpc2proc(mode) {
  const server = await startChild([...MODES[mode], src("greeter-server.mjs")]);
  try {
    return await runJson([...MODES[mode], src("rpc-client.mjs"), server.registered.address, String(CALLS), String(INFLIGHT)]);
  } finally {
    await server.stop();
  }
}

/** Throughput benches: each run gives { callsPerSec, seconds }. */
const THROUGHPUT = [
  { name: "rpc-2proc", variant: "dist", what: "ours: 2 processes, tcp transport, compiled JS", run: () => rpc2proc("dist") },
  { name: "rpc-2proc", variant: "tsx", what: "ours: 2 processes, tcp transport, TS source via tsx", run: () => rpc2proc("tsx") },
  { name: "rpc-inproc", variant: "dist", what: "ours: in-process, memory transport + registry", calls: INPROC_CALLS,
    run: () => runJson([src("rpc-inproc.mjs"), String(INPROC_CALLS), String(INFLIGHT)]) },
  ...(havePeers
    ? [
        { name: "moleculer-tcp", variant: "peer", what: "Moleculer 0.15, 2 processes, TCP transporter",
          run: () => runJson([peer("moleculer-rpc.cjs"), "tcp", String(CALLS), String(INFLIGHT)]) },
        { name: "moleculer-local", variant: "peer", what: "Moleculer 0.15, in-process", calls: INPROC_CALLS,
          run: () => runJson([peer("moleculer-rpc.cjs"), "local", String(INPROC_CALLS), String(INFLIGHT)]) },
        { name: "raw-net-batched", variant: "peer", what: "bare node:net framed JSON, writes coalesced per tick",
          run: () => runJson([peer("raw-net-rpc.cjs"), "batched", String(CALLS), String(INFLIGHT)]) },
        { name: "raw-net-naive", variant: "peer", what: "bare node:net framed JSON, one write per frame",
          run: () => runJson([peer("raw-net-rpc.cjs"), "naive", String(CALLS), String(INFLIGHT)]) },
      ]
    : []),
];

/** Idle RSS: each subject started as its own process, settled, gc'd, rss printed by itself. */
const IDLE = [
  { name: "idle-rss", variant: "dist", what: "ours: started + registered greeter, compiled JS", args: ["--expose-gc", src("greeter-server.mjs")] },
  { name: "idle-rss", variant: "tsx", what: "ours: same, TS source via tsx (tsx's own loader included)", args: ["--expose-gc", ...MODES.tsx, src("greeter-server.mjs")] },
  { name: "idle-rss", variant: "node-http", what: "bare node:http server", args: ["--expose-gc", src("idle-http.mjs")] },
  { name: "idle-rss", variant: "moleculer", what: "Moleculer broker + greeter, TCP transporter", args: ["--expose-gc", src("moleculer-server.cjs")] },
];
const IDLE_SETTLE_MS = 1500;

/** Cold start: wall time from spawn (in this process) to the child's "registered" line. */
const COLD = [
  { name: "cold-start", variant: "dist", what: "ours: spawn → start() resolved (registered), compiled JS", args: [src("greeter-server.mjs")] },
  { name: "cold-start", variant: "tsx", what: "ours: same, TS source via tsx (adds transpiling)", args: [...MODES.tsx, src("greeter-server.mjs")] },
  { name: "cold-start", variant: "node-http", what: "bare node:http server listening (the floor)", args: [src("idle-http.mjs")] },
  { name: "cold-start", variant: "moleculer", what: "Moleculer broker.start() with greeter, TCP transporter", args: [src("moleculer-server.cjs")] },
];

// Gateway (HTTP → service) benches. Our gateway does not exist yet: when it does, add a
// program that serves POST /greeter/hello through it (like the peers' moleculer-gateway.cjs,
// printing "ready <port>") as { name: "gateway", variant: "ours", ... } below, and the ratio
// gateway / raw-http (target ≥ 0.8, DESIGN.md §8) in RATIOS. The two peer baselines already run.
const GATEWAYS = havePeers
  ? [
      { name: "gateway", variant: "raw-http", what: "bare node:http JSON server (the ceiling)", program: peer("raw-http.cjs"), ready: /^\d+/ },
      { name: "gateway", variant: "moleculer-web", what: "moleculer-web → greeter over Moleculer TCP", program: peer("moleculer-gateway.cjs"), ready: /^ready/ },
      { name: "gateway", variant: "ours", what: "micro gateway → greeter over tcp (2 processes), compiled JS", program: src("gateway-server.mjs"), ready: /^ready/, build: "packages/server/tsconfig.build.json" },
      // auth on: every request carries `Authorization: Bearer <jwt>`, verified locally (EdDSA, cached key) + rules
      { name: "gateway", variant: "ours-auth", what: "same, auth on: Bearer JWT verified locally + rule check per request", program: src("gateway-server.mjs"), ready: /^ready \d+\ntoken \S+$/, env: { BENCH_GATEWAY_AUTH: "1" }, token: true, build: "packages/server/tsconfig.build.json" },
    ]
  : [];
const GATEWAY_SECONDS = 5;
const GATEWAY_CONNECTIONS = 50;

// ---------------------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const results = []; // { bench, variant, what, unit, value, runs, ... }
const key = (b, v) => `${b}/${v}`;
const byKey = new Map();
function record(r) {
  results.push(r);
  byKey.set(key(r.bench, r.variant), r);
}

async function throughput() {
  const benches = THROUGHPUT.filter((b) => wanted(b.name));
  const runs = new Map(benches.map((b) => [b, []]));
  // Rounds interleave the benches so that drift (thermal, neighbours) spreads over all of them.
  for (let round = 1; round <= RUNS; round++) {
    for (const b of benches) {
      try {
        const r = await b.run();
        runs.get(b).push(r.callsPerSec);
        log(`round ${round}/${RUNS} ${key(b.name, b.variant)}: ${r.callsPerSec} calls/s (${r.seconds} s)`);
      } catch (e) {
        crashed++;
        log(`round ${round}/${RUNS} ${key(b.name, b.variant)} FAILED: ${e.message}`);
      }
    }
  }
  for (const b of benches) {
    const xs = runs.get(b);
    if (xs.length === 0) continue;
    record({ bench: b.name, variant: b.variant, what: b.what, unit: "calls/s", value: Math.round(median(xs)), runs: xs, calls: b.calls ?? CALLS, inflight: INFLIGHT });
  }
}

async function idleRss() {
  if (!wanted("idle-rss")) return;
  for (const b of IDLE) {
    try {
      const c = await startChild(b.args, { extraEnv: { BENCH_IDLE_MS: String(IDLE_SETTLE_MS) }, waitFor: "idle" });
      await c.stop();
      log(`${key(b.name, b.variant)}: ${(c.event.rss / 2 ** 20).toFixed(1)} MiB (heap ${(c.event.heapUsed / 2 ** 20).toFixed(1)} MiB, gc ${c.event.gc})`);
      record({ bench: b.name, variant: b.variant, what: b.what, unit: "MiB", value: +(c.event.rss / 2 ** 20).toFixed(1), rssBytes: c.event.rss, heapUsedBytes: c.event.heapUsed, gc: c.event.gc, settleMs: IDLE_SETTLE_MS });
    } catch (e) {
      crashed++;
      log(`${key(b.name, b.variant)} FAILED: ${e.message}`);
    }
  }
}

async function coldStart() {
  if (!wanted("cold-start")) return;
  const runs = new Map(COLD.map((b) => [b, []]));
  const inside = new Map(COLD.map((b) => [b, []]));
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const b of COLD) {
      try {
        const c = await startChild(b.args);
        runs.get(b).push(+c.registeredMs.toFixed(1));
        inside.get(b).push(c.registered.sinceStartMs);
        await c.stop();
      } catch (e) {
        crashed++;
        log(`${key(b.name, b.variant)} FAILED: ${e.message}`);
      }
    }
  }
  for (const b of COLD) {
    const xs = runs.get(b);
    if (xs.length === 0) continue;
    log(`${key(b.name, b.variant)}: median ${median(xs).toFixed(1)} ms of ${xs.join(", ")}`);
    record({ bench: b.name, variant: b.variant, what: b.what, unit: "ms", value: +median(xs).toFixed(1), runs: xs, childReportedMs: +median(inside.get(b)).toFixed(1) });
  }
}

/** One autocannon run of POST /greeter/hello against the gateway on `port`, with extra headers. */
function ac(autocannon, port, headers = {}) {
  return autocannon({
    url: `http://127.0.0.1:${port}/greeter/hello`,
    connections: GATEWAY_CONNECTIONS,
    duration: GATEWAY_SECONDS,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ name: "Ada" }),
  });
}

async function gateways() {
  if (!GATEWAY || !wanted("gateway") || GATEWAYS.length === 0) return;
  const { default: autocannon } = await import("autocannon");
  for (const g of GATEWAYS) {
    // `npm run bench` compiles the core only: compile the gateway's package too
    if (g.build) {
      try {
        await tsc(g.build);
      } catch (e) {
        crashed++;
        log(`${key(g.name, g.variant)} FAILED: ${e.message}`);
        continue;
      }
    }
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [g.program, String(port)], { cwd: here, env: { ...childEnv, ...(g.env ?? {}) }, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const out = await new Promise((resolve, reject) => {
        let out = "";
        const t = setTimeout(() => reject(new Error(`${g.variant}: not ready within 30 s`)), 30_000);
        child.stdout.on("data", (d) => {
          out += d;
          if (g.ready.test(out.trim())) {
            clearTimeout(t);
            resolve(out.trim());
          }
        });
        child.on("close", (code) => reject(new Error(`${g.variant} exited ${code}`)));
      });
      const token = g.token ? /^token (\S+)$/m.exec(out)?.[1] : undefined;
      if (g.token && !token) throw new Error(`${g.variant}: no token printed`);
      const r = await ac(autocannon, port, token ? { authorization: `Bearer ${token}` } : {});
      if (g.token && (r.non2xx > 0 || r.errors > 0)) throw new Error(`${g.variant}: ${r.non2xx} non-2xx, ${r.errors} errors: the token was not accepted`);
      log(`${key(g.name, g.variant)}: ${Math.round(r.requests.average)} req/s, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}`);
      record({ bench: g.name, variant: g.variant, what: g.what, unit: "req/s", value: Math.round(r.requests.average), p99ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors, connections: GATEWAY_CONNECTIONS, seconds: GATEWAY_SECONDS });
    } catch (e) {
      crashed++;
      log(`${key(g.name, g.variant)} FAILED: ${e.message}`);
    } finally {
      await stopChild(child);
    }
  }
}

// ratio = a / b against a target; `atLeast` false means "below".
const RATIOS = [
  { name: "ours-2proc / moleculer-tcp", a: "rpc-2proc/dist", b: "moleculer-tcp/peer", target: 3, atLeast: true },
  { name: "ours-2proc / raw-net-batched", a: "rpc-2proc/dist", b: "raw-net-batched/peer", target: 0.8, atLeast: true, design: "DESIGN.md §8 asks ≥ 0.7" },
  { name: "ours-inproc / moleculer-local", a: "rpc-inproc/dist", b: "moleculer-local/peer", target: 1, atLeast: true },
  { name: "idle RSS (MiB)", a: "idle-rss/dist", target: 50, atLeast: false, design: "DESIGN.md §8 asks < 40 MB" },
  { name: "cold start to registered (ms)", a: "cold-start/dist", target: 200, atLeast: false, design: "DESIGN.md §8 asks < 300 ms" },
  { name: "ours-gateway / raw-http", a: "gateway/ours", b: "gateway/raw-http", target: 0.6, atLeast: true, design: "DESIGN.md §8 asks ≥ 0.8; issue 4 ≥ 0.6" },
  { name: "ours-gateway / moleculer-web", a: "gateway/ours", b: "gateway/moleculer-web", target: 2.5, atLeast: true },
  { name: "ours-gateway-auth / ours-gateway", a: "gateway/ours-auth", b: "gateway/ours", target: 0.85, atLeast: true, design: "issue 5: auth on ≥ 85% of auth off" },
];

function report() {
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  const out = [];
  out.push("");
  out.push(`machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model.trim() ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`);
  out.push(`loads: ${CALLS} calls per 2-process run, ${INPROC_CALLS} per in-process run, ${INFLIGHT} in flight, median of ${RUNS} rounds; cold start median of ${COLD_RUNS}; idle RSS after ${IDLE_SETTLE_MS} ms + gc`);
  out.push("");
  out.push(`${pad("bench", 16)} ${pad("variant", 14)} ${lpad("value", 10)} ${pad("unit", 8)} what`);
  out.push("-".repeat(100));
  for (const r of results) out.push(`${pad(r.bench, 16)} ${pad(r.variant, 14)} ${lpad(r.value, 10)} ${pad(r.unit, 8)} ${r.what}${r.runs && r.runs.length > 1 ? `  [${r.runs.join(", ")}]` : ""}`);
  out.push("");
  const ratios = [];
  for (const q of RATIOS) {
    const a = byKey.get(q.a)?.value;
    const b = q.b ? byKey.get(q.b)?.value : 1;
    if (a === undefined || b === undefined) continue;
    const value = q.b ? +(a / b).toFixed(2) : a;
    const pass = q.atLeast ? value >= q.target : value < q.target;
    ratios.push({ ratio: q.name, value, target: `${q.atLeast ? "≥" : "<"} ${q.target}`, pass, ...(q.design ? { note: q.design } : {}) });
  }
  out.push(`${pad("ratio / target", 34)} ${lpad("value", 8)} ${pad("  target", 10)} result`);
  out.push("-".repeat(70));
  for (const r of ratios) out.push(`${pad(r.ratio, 34)} ${lpad(r.value, 8)}   ${pad(r.target, 8)} ${r.pass ? "pass" : "MISS"}${r.note ? `  (${r.note})` : ""}`);
  out.push("");
  for (const r of results) out.push(JSON.stringify({ type: "result", ...r }));
  for (const r of ratios) out.push(JSON.stringify({ type: "ratio", ...r }));
  console.log(out.join("\n"));
}

const t0 = Date.now();
if (!havePeers) log(`peer programs not found in ${PEERS}: peers and ratios against them are skipped (set BENCH_PEERS_DIR)`);
const micro = JSON.parse(readFileSync(path.join(root, "packages", "micro", "package.json"), "utf8")).version;
log(`@micro-ts/micro ${micro}, ${RUNS} rounds, ${CALLS} calls (2 processes), ${INPROC_CALLS} (in process), ${INFLIGHT} in flight`);
await throughput();
await idleRss();
await coldStart();
await gateways();
report();
log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s${crashed ? `, ${crashed} bench run(s) crashed` : ""}`);
process.exit(crashed ? 1 : 0);
