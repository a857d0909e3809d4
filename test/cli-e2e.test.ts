// The end-to-end flow with the real binary: micro server → new → run → services → call → logs → kill.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { micro, MICRO_BIN } from "./cli-helpers.js";
import { ROOT } from "./helpers.js";

let dir: string;
let env: Record<string, string>;
let server: ReturnType<typeof spawn>;
let info: { address: string; gateway: string };
let serverErr = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "micro-e2e-"));
  env = { MICRO_CONFIG_DIR: join(dir, "config"), MICRO_LOG_LEVEL: "warn" };
  server = spawn(
    process.execPath,
    [MICRO_BIN, "server", "--address", "127.0.0.1:0", "--gateway-address", "127.0.0.1:0", "--data-dir", join(dir, "data"), "--output", "json"],
    { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stderr!.on("data", (d: Buffer) => (serverErr += d.toString()));
  info = await new Promise((resolve, reject) => {
    // Skip the server's own log lines: the CLI's line is the one naming the runtime.
    createInterface({ input: server.stdout! }).on("line", (l) => {
      const v = JSON.parse(l) as typeof info & { runtime?: string };
      if (v.runtime) resolve(v);
    });
    server.once("exit", (code) => reject(new Error(`micro server exited ${code}: ${serverErr}`)));
  });
  // The CLI finds the server through its env, as a user would after `micro env add/set`.
  assert.equal((await micro(["env", "add", "test", info.address], { env })).code, 0);
  assert.equal((await micro(["env", "set", "test"], { env })).code, 0);
});

after(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

test("new → run → services → call → dynamic command → logs → kill", async () => {
  const r1 = await micro(["new", "hello-svc"], { env, cwd: dir });
  assert.equal(r1.code, 0, r1.stderr);
  const svc = join(dir, "hello-svc");
  // The generated project uses this workspace's framework instead of the registry's.
  await mkdir(join(svc, "node_modules", "@micro-ts"), { recursive: true });
  await symlink(join(ROOT, "packages/micro"), join(svc, "node_modules", "@micro-ts", "micro"), "dir");

  const r2 = await micro(["run", svc], { env });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /started hello-svc/);

  // Wait for the service to register: follow its logs is not enough, registration is the event.
  let services: { name: string }[] = [];
  for (let i = 0; i < 100 && !services.some((s) => s.name === "hello-svc"); i++) {
    const r = await micro(["services", "-o", "json"], { env });
    assert.equal(r.code, 0, r.stderr);
    services = JSON.parse(r.stdout) as { name: string }[];
  }
  assert.ok(services.some((s) => s.name === "hello-svc"), JSON.stringify(services));
  assert.ok(services.some((s) => s.name === "registry"));

  const call = await micro(["call", "hello-svc", "HelloSvc.Hello", '{"name":"Ada"}', "-o", "json"], { env });
  assert.equal(call.code, 0, call.stderr);
  assert.deepEqual(JSON.parse(call.stdout), { msg: "Hello Ada" });

  const dyn = await micro(["hello-svc", "hello", "--name=Grace", "-o", "json"], { env });
  assert.equal(dyn.code, 0, dyn.stderr);
  assert.deepEqual(JSON.parse(dyn.stdout), { msg: "Hello Grace" });

  const help = await micro(["hello-svc", "--help"], { env });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /hello\s+HelloSvc\.Hello/);
  assert.match(help.stdout, /count\s+HelloSvc\.Count/);

  const bad = await micro(["call", "hello-svc", "HelloSvc.Hello", "{}"], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /name is required/);

  const status = await micro(["status", "-o", "json"], { env });
  assert.equal(status.code, 0, status.stderr);
  const [st] = JSON.parse(status.stdout) as { name: string; status: string }[];
  assert.equal(st?.name, "hello-svc");
  assert.equal(st?.status, "running");

  const logs = await micro(["logs", "hello-svc"], { env });
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /\[micro\] starting .*main\.ts/);

  const kill = await micro(["kill", "hello-svc"], { env });
  assert.equal(kill.code, 0, kill.stderr);
  assert.equal(JSON.parse((await micro(["status", "-o", "json"], { env })).stdout).length, 0);

  // Down: the CLI says which service and how to start it.
  let down = await micro(["call", "hello-svc", "HelloSvc.Hello", '{"name":"Ada"}'], { env });
  for (let i = 0; i < 100 && down.code === 0; i++) down = await micro(["call", "hello-svc", "HelloSvc.Hello", '{"name":"Ada"}'], { env });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /service hello-svc is not running; start it with `micro run/);
});

test("micro run of a directory without a service says why", async () => {
  const empty = join(dir, "empty");
  await mkdir(empty, { recursive: true });
  const r = await micro(["run", empty], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /holds no service: looked for main\.ts/);
});

test("a crashing service under micro run is restarted and its crash shows in micro logs", async () => {
  const r = await micro(["run", join(ROOT, "test/fixtures/cli-crasher"), "--env", "CRASH_AFTER_MS=10"], { env });
  assert.equal(r.code, 0, r.stderr);
  const follow = spawn(process.execPath, [MICRO_BIN, "logs", "crasher", "-f"], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const seen: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let ups = 0;
    createInterface({ input: follow.stdout! }).on("line", (l) => {
      seen.push(l);
      if (l.startsWith("crasher up")) ups++;
      if (ups === 2) resolve();
    });
    follow.once("exit", (code) => reject(new Error(`logs -f exited ${code}: ${seen.join("\n")}`)));
  });
  const exited = new Promise((r) => follow.once("exit", r));
  follow.kill("SIGINT");
  assert.equal(await exited, 0);
  const text = seen.join("\n");
  assert.match(text, /boom: crasher failed on purpose/);
  assert.match(text, /\[micro\] crashed: exited with code 1; restarting in \d+ms/);
  const st = JSON.parse((await micro(["status", "crasher", "-o", "json"], { env })).stdout) as { restarts: number }[];
  assert.ok(st[0]!.restarts >= 1);
  assert.equal((await micro(["kill", "crasher"], { env })).code, 0);
});

test("store and config commands reach the server's store and config", async () => {
  assert.equal((await micro(["store", "write", "greeting", '{"text":"hi"}'], { env })).code, 0);
  const read = await micro(["store", "read", "greeting", "-o", "json"], { env });
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual((JSON.parse(read.stdout) as { value: unknown }[])[0]?.value, { text: "hi" });
  assert.match((await micro(["store", "list"], { env })).stdout, /^greeting$/m);
  assert.equal((await micro(["store", "delete", "greeting"], { env })).code, 0);
  assert.equal((await micro(["store", "read", "greeting"], { env })).code, 1);

  assert.equal((await micro(["config", "set", "db.port", "5432"], { env })).code, 0);
  const got = await micro(["config", "get", "db", "-o", "json"], { env });
  assert.deepEqual(JSON.parse(got.stdout), { port: 5432 });
  assert.equal((await micro(["publish", "audit", '{"id":1}'], { env })).code, 0);
});
