// The network proxy: two services that cannot reach each other, each able to reach the
// micro server, call each other through it (MICRO_PROXY). With network namespaces (root on
// Linux) they sit in separate namespaces joined only to the server's namespace by veth pairs,
// with no forwarding between them; without, the same flow runs on loopback and the test says so.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { ROOT } from "./helpers.js";

const FIXTURE = "test/fixtures/server-service.ts";
const SERVER = "packages/server/src/server.ts";
const tag = randomBytes(3).toString("hex");
const NS = { srv: `mt-srv-${tag}`, a: `mt-a-${tag}`, b: `mt-b-${tag}` };
// A /24 per test run, from a private range, so parallel runs never share addresses.
const net = 1 + (randomBytes(1)[0]! % 200);
const IP = { srvA: `10.${net}.1.1`, a: `10.${net}.1.2`, srvB: `10.${net}.2.1`, b: `10.${net}.2.2` };

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

/** Sets up the three namespaces; false (and nothing left behind) where that is not possible. */
function setupNamespaces(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  try {
    for (const ns of Object.values(NS)) ip("netns", "add", ns);
    for (const [side, vsrv, vside, srvIp, sideIp] of [
      [NS.a, `va${tag}`, `vas${tag}`, IP.srvA, IP.a],
      [NS.b, `vb${tag}`, `vbs${tag}`, IP.srvB, IP.b],
    ] as const) {
      ip("link", "add", vsrv, "netns", NS.srv, "type", "veth", "peer", "name", vside, "netns", side);
      ip("-n", NS.srv, "addr", "add", `${srvIp}/24`, "dev", vsrv);
      ip("-n", side, "addr", "add", `${sideIp}/24`, "dev", vside);
      ip("-n", NS.srv, "link", "set", vsrv, "up");
      ip("-n", side, "link", "set", vside, "up");
    }
    for (const ns of Object.values(NS)) ip("-n", ns, "link", "set", "lo", "up");
    // No forwarding in the server's namespace: A and B reach it, never each other.
    execFileSync("ip", ["netns", "exec", NS.srv, "sysctl", "-qw", "net.ipv4.ip_forward=0"], { stdio: "pipe" });
    return true;
  } catch {
    cleanupNamespaces();
    return false;
  }
}

function cleanupNamespaces(): void {
  for (const ns of Object.values(NS)) {
    try {
      ip("netns", "del", ns);
    } catch {
      // not created
    }
  }
}

interface Proc {
  proc: ChildProcess;
  line(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<unknown>;
}

/** Runs a TypeScript file (inside a namespace when `ns` is given); resolves JSON lines it prints. */
function run(ns: string | undefined, file: string, env: Record<string, string>, args: string[] = []): Proc {
  const node = [process.execPath, "--conditions=micro-source", "--import", "tsx", file, ...args];
  const [cmd, ...argv] = ns ? ["ip", "netns", "exec", ns, ...node] : node;
  const proc = spawn(cmd!, argv, { cwd: ROOT, env: { ...process.env, MICRO_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  const waiters: [(l: Record<string, unknown>) => boolean, (l: Record<string, unknown>) => void][] = [];
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  createInterface({ input: proc.stdout! }).on("line", (text) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(text) as Record<string, unknown>;
    } catch {
      l = { text };
    }
    lines.push(l);
    for (const w of [...waiters]) if (w[0](l)) waiters.splice(waiters.indexOf(w), 1), w[1](l);
  });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  return {
    proc,
    exited,
    line: (pred) => {
      const hit = lines.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        waiters.push([pred, resolve]);
        void exited.then(() => reject(new Error(`${file} exited before the line came; stderr:\n${err.slice(-2000)}`)));
      });
    },
  };
}

const namespaces = setupNamespaces();
const procs: Proc[] = [];
const dataDir = mkdtempSync(join(tmpdir(), "micro-proxy-"));
after(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  if (namespaces) cleanupNamespaces();
  rmSync(dataDir, { recursive: true, force: true });
});

const title = namespaces
  ? "services in separate network namespaces call each other only through the server's proxy"
  : "network namespaces unavailable here (needs root on Linux): services on loopback call each other through the server's proxy (MICRO_PROXY)";

describe("network proxy", () => {
  it(title, async () => {
    const srv = run(namespaces ? NS.srv : undefined, SERVER, {}, ["--data-dir", dataDir, "--address", namespaces ? "0.0.0.0:0" : "127.0.0.1:0", "--gateway-address", "off", "--auth=false"]);
    // (auth is off on purpose: this is about routing; binding 0.0.0.0 would turn it on, and then
    // every core endpoint wants a token these hand-started services do not have)
    procs.push(srv);
    const port = String((await srv.line((l) => typeof l["address"] === "string"))["address"]).split(":").pop()!;
    const side = (name: string, peer: string, ns: string | undefined, own: string, server: string) => {
      const env = { SVC_NAME: name, RELAY_TO: peer, MICRO_SERVER: `${server}:${port}`, MICRO_PROXY: `${server}:${port}`, MICRO_SERVER_ADDRESS: `${own}:0` };
      const p = run(ns, FIXTURE, env);
      procs.push(p);
      return p;
    };
    const a = side("alpha", "beta", namespaces ? NS.a : undefined, namespaces ? IP.a : "127.0.0.1", namespaces ? IP.srvA : "127.0.0.1");
    const b = side("beta", "alpha", namespaces ? NS.b : undefined, namespaces ? IP.b : "127.0.0.1", namespaces ? IP.srvB : "127.0.0.1");
    const [fromA, fromB] = await Promise.all([a.line((l) => "relayed" in l || "relayFailed" in l), b.line((l) => "relayed" in l || "relayFailed" in l)]);
    assert.deepEqual(fromA["relayed"], { msg: "hello alpha", from: "beta" });
    assert.deepEqual(fromB["relayed"], { msg: "hello beta", from: "alpha" });
    if (namespaces) {
      // And they really cannot reach each other directly.
      const probe = `const s=require("net").connect({host:"${IP.b}",port:9});s.on("error",e=>{console.log(e.code);process.exit(0)});s.on("connect",()=>{console.log("CONNECTED");process.exit(0)});setTimeout(()=>{console.log("TIMEOUT");process.exit(0)},1000)`;
      const out = execFileSync("ip", ["netns", "exec", NS.a, process.execPath, "-e", probe], { encoding: "utf8" }).trim();
      assert.notEqual(out, "CONNECTED");
      assert.notEqual(out, "ECONNREFUSED", "alpha's namespace must have no route to beta's");
    }
  });
});
