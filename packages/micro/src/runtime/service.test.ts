import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { memoryBroker } from "../broker/memory.js";
import { isMicroError } from "../errors/index.js";
import { silentLogger } from "../logger/logger.js";
import { memoryRegistry } from "../registry/memory.js";
import { Service } from "../service/service.js";
import { memoryTransport } from "../transport/memory.js";
import { RuntimeHandler } from "./handler.js";
import { localRuntime } from "./local.js";
import type { Runtime } from "./runtime.js";
import { serviceRuntime } from "./service.js";

let dir: string;
let server: Service;
let local: Runtime;
let remote: Runtime;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "micro-rtsvc-"));
  const registry = memoryRegistry();
  const transport = memoryTransport();
  const broker = memoryBroker();
  local = localRuntime({ dataDir: join(dir, "data") });
  server = new Service({ name: "runtime", registry, transport, broker, logger: silentLogger() });
  server.handle(new RuntimeHandler(local));
  await server.start();
  remote = serviceRuntime({ client: server.client });
});
after(async () => {
  await server.stop();
  await local.stop();
  await rm(dir, { recursive: true, force: true });
});

test("the service runtime drives a local runtime through Runtime.* endpoints", async () => {
  const src = join(dir, "svc");
  await mkdir(src, { recursive: true });
  await writeFile(join(src, "main.js"), `console.log("hello from svc"); setInterval(() => {}, 1000);`);
  await remote.create({ name: "svc", source: src });
  const ac = new AbortController();
  for await (const r of remote.logs("svc", { stream: true, signal: ac.signal })) {
    if (r.text === "hello from svc") ac.abort();
  }
  const [st] = await remote.read({ name: "svc" });
  assert.equal(st?.name, "svc");
  assert.equal(st?.status, "running");
  const past = [];
  for await (const r of remote.logs("svc", { count: 10 })) past.push(r.text);
  assert.ok(past.includes("hello from svc"));
  await remote.update("svc");
  assert.equal((await remote.read({ name: "svc" }))[0]?.restarts, 1);
  await remote.delete("svc");
  assert.deepEqual(await remote.read(), []);
});

test("errors keep their codes across the wire", async () => {
  await assert.rejects(remote.delete("missing"), (e) => isMicroError(e) && e.code === 404);
  await assert.rejects(remote.create({ name: "x", source: join(dir, "nope") }), (e) => isMicroError(e) && e.code === 400);
});
