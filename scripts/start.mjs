// `npm start`: the main job on embedded defaults, on one machine.
//   1. starts `micro server` (registry, broker, store, config, events, auth, runtime, the API
//      gateway and the dashboard; state under a temporary data dir),
//   2. starts the helloworld greeter pointed at it (MICRO_SERVER),
//   3. calls it through the gateway with HTTP/JSON, as curl or any language would,
//   4. runs the helloworld caller (typed client, stream, publish), then stops everything.
// Ports: MICRO_START_ADDRESS (RPC, default 127.0.0.1:8081), MICRO_START_GATEWAY (127.0.0.1:8080),
// MICRO_START_DASHBOARD (127.0.0.1:8082); "127.0.0.1:0" picks free ones.
// Add --keep to leave the server and the greeter running (Ctrl-C stops them).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const root = new URL("..", import.meta.url).pathname;
const keep = process.argv.includes("--keep");
const dataDir = mkdtempSync(join(tmpdir(), "micro-start-"));
const env = (extra) => ({ ...process.env, MICRO_CONFIG_DIR: join(dataDir, "cli"), ...extra });
const ts = (file, extra = {}) =>
  spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", file], { cwd: root, env: env(extra), stdio: ["ignore", "pipe", "inherit"] });

const server = spawn(
  process.execPath,
  [
    "packages/cli/bin/micro.js",
    "server",
    "-o",
    "json",
    "--data-dir",
    join(dataDir, "data"),
    "--address",
    process.env.MICRO_START_ADDRESS ?? "127.0.0.1:8081",
    "--gateway-address",
    process.env.MICRO_START_GATEWAY ?? "127.0.0.1:8080",
    "--dashboard-address",
    process.env.MICRO_START_DASHBOARD ?? "127.0.0.1:8082",
  ],
  { cwd: root, env: env({}), stdio: ["ignore", "pipe", "inherit"] },
);
const info = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: server.stdout });
  rl.on("line", (l) => {
    try {
      const o = JSON.parse(l);
      if (o.gateway) resolve(o);
    } catch {
      // not the info line
    }
  });
  server.on("exit", (c) => reject(new Error(`micro server exited (${c}) before it was ready`)));
});
console.log(`micro server  rpc ${info.address}  gateway http://${info.gateway}  dashboard ${info.dashboard ? `http://${info.dashboard}` : "off"}`);

const greeter = ts("examples/helloworld/service.ts", { MICRO_SERVER: info.address });
createInterface({ input: greeter.stdout }).on("line", (l) => console.log(`[greeter] ${l}`));

const stopAll = async () => {
  greeter.kill("SIGTERM");
  const g = await new Promise((r) => (greeter.exitCode !== null ? r(greeter.exitCode) : greeter.on("exit", (c) => r(c))));
  server.kill("SIGTERM");
  const s = await new Promise((r) => (server.exitCode !== null ? r(server.exitCode) : server.on("exit", (c) => r(c))));
  rmSync(dataDir, { recursive: true, force: true });
  return { g, s };
};

let ok = false;
try {
  // The greeter registers through the server; then the gateway finds it.
  const url = `http://${info.gateway}/greeter/hello`;
  let rsp;
  for (let i = 0; i < 100; i++) {
    rsp = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"Ada"}' });
    if (rsp.status !== 404 && rsp.status !== 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`$ curl -s -X POST ${url} -d '{"name":"Ada"}'`);
  console.log(`${rsp.status} ${await rsp.text()}`);
  const caller = ts("examples/helloworld/caller.ts", { MICRO_SERVER: info.address });
  let out = "";
  caller.stdout.on("data", (d) => (out += d));
  const code = await new Promise((r) => caller.on("exit", (c) => r(c ?? 1)));
  process.stdout.write(out);
  ok = rsp.status === 200 && code === 0;
  if (keep && ok) {
    console.log("running; Ctrl-C stops the server and the greeter");
    await new Promise((r) => process.once("SIGINT", r));
  }
} finally {
  const { g, s } = await stopAll();
  console.log(`greeter stopped (exit ${g}), micro server stopped (exit ${s})`);
}
process.exit(ok ? 0 : 1);
