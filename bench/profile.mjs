#!/usr/bin/env node
// `npm run -w @micro-ts/bench profile`: runs rpc-2proc (server and client) and rpc-inproc on
// the compiled package under `node --cpu-prof`, then prints the top self-time functions of
// each process (`[file:line] function`), with the share that falls in packages/micro.
// Profiles are kept in bench/.profiles/ (open them in Chrome DevTools → Performance).
// Usage: node profile.mjs [calls=100000] [top=25]
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const calls = process.argv[2] || "100000";
const top = Number(process.argv[3] || 25);
const dir = path.join(here, ".profiles");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const prof = (name) => ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-name", `${name}.cpuprofile`];

function run(args, onLine) {
  const c = spawn(process.execPath, args, { cwd: here, stdio: ["ignore", "pipe", "inherit"] });
  const done = new Promise((resolve, reject) => {
    let buf = "";
    c.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine?.(line);
      }
    });
    c.on("close", (code, sig) => (code === 0 ? resolve() : reject(new Error(`${args.at(-1)} exited ${code ?? sig}`))));
  });
  return { child: c, done };
}

// rpc-2proc: the server is stopped with SIGINT (it exits 0) so that it writes its profile.
let address;
const server = run([...prof("server"), "src/greeter-server.mjs"], (line) => {
  if (line.startsWith("{")) address ??= JSON.parse(line).address;
});
while (!address) await new Promise((r) => setTimeout(r, 20));
await run([...prof("client"), "src/rpc-client.mjs", address, calls, "100"], (l) => console.log("rpc-2proc", l)).done;
server.child.kill("SIGINT");
await server.done;
await run([...prof("inproc"), "src/rpc-inproc.mjs", String(Number(calls) * 2), "100"], (l) => console.log("rpc-inproc", l)).done;

for (const f of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort()) {
  const p = JSON.parse(readFileSync(path.join(dir, f), "utf8"));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map();
  let total = 0, micro = 0, idle = 0;
  for (const n of p.nodes) {
    const t = dt.get(n.id) ?? 0;
    total += t;
    const cf = n.callFrame;
    if (cf.functionName === "(idle)") idle += t;
    const file = cf.url ? cf.url.replace(/^file:\/\//, "").replace(/.*\/packages\/micro\/dist\//, "micro/").replace(/.*\/node_modules\//, "") : "";
    if (file.startsWith("micro/")) micro += t;
    const k = `${cf.functionName || "(anonymous)"}  ${file ? `[${file}:${cf.lineNumber + 1}]` : ""}`;
    self.set(k, (self.get(k) ?? 0) + t);
  }
  const busy = total - idle;
  console.log(`\n== ${f}: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle; packages/micro self time ${((100 * micro) / busy).toFixed(1)}% of busy`);
  for (const [k, t] of [...self].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
