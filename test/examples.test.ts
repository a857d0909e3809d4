/** The examples run as a user runs them: `npm start` (helloworld service + caller). */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { it } from "node:test";
import { ROOT } from "./helpers.js";

it("npm start runs micro server, the helloworld greeter, a call through the gateway and the caller", async () => {
  const child = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: ROOT,
    env: {
      ...process.env,
      MICRO_LOG_LEVEL: "info",
      MICRO_LOG_FORMAT: "json",
      MICRO_START_ADDRESS: "127.0.0.1:0",
      MICRO_START_GATEWAY: "127.0.0.1:0",
      MICRO_START_DASHBOARD: "127.0.0.1:0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  assert.equal(code, 0, `stdout:\n${out}\nstderr:\n${err}`);
  const lines = out.split("\n");
  assert.ok(lines.includes('200 {"msg":"Hello Ada"}'), "the gateway call answered");
  assert.ok(lines.includes("Hello Ada"));
  assert.deepEqual(lines.filter((l) => l.startsWith("count ")), ["count 1", "count 2", "count 3"]);
  assert.ok(lines.includes('{"msg":"Hello Bob"}'));
  assert.match(out, /greeter stopped \(exit 0\), micro server stopped \(exit 0\)/);
  // the greeter's subscriber logged the event the caller published through the server's broker
  assert.match(out + err, /"msg":"user created","service":"greeter","id":"1"/);
});

it("examples/state uses store, config, events and sync on their durable defaults", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "micro-state-test-"));
  try {
    const child = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", "examples/state/main.ts", dir], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    assert.equal(code, 0, err);
    assert.deepEqual(out.trim().split("\n"), [
      'store read {"name":"Ada"}',
      'store list ["user/1","user/2"]',
      "config greeting.prefix Hello",
      "config watch Howdy",
      "events consumed 1,2",
      "sync locked report",
      "sync leader leader",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
