// `micro server` end to end: the server (in-process and as a child process), services that
// know only MICRO_SERVER, the gateway in front, restart and re-registration, state round trips.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serviceEvents, serviceRegistry, serviceStore, silentLogger, MicroError, RpcClient, memoryRegistry, tcpTransport } from "@micro-ts/micro";
import { startServer } from "@micro-ts/server";
import { startTs, type Child } from "./helpers.js";

const FIXTURE = "test/fixtures/server-service.ts";
const SERVER = "packages/server/src/server.ts";
const dirs: string[] = [];
const children: Child[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "micro-server-"));
  dirs.push(d);
  return d;
};
const spawnChild = (file: string, env: Record<string, string>, args: string[] = []) => {
  const c = startTs(file, env, args);
  children.push(c);
  return c;
};
after(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function post(gateway: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const rsp = await fetch(`http://${gateway}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: rsp.status, json: (await rsp.json()) as Record<string, unknown> };
}

/** Resolves when `fn` stops throwing; polls a registry, which offers no event for "now registered". */
async function until<T>(fn: () => Promise<T>, ms: number): Promise<{ value: T; elapsed: number }> {
  const start = Date.now();
  for (;;) {
    try {
      return { value: await fn(), elapsed: Date.now() - start };
    } catch (e) {
      if (Date.now() - start > ms) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe("micro server", () => {
  it("a service with only MICRO_SERVER set registers through it and is callable through the gateway", async () => {
    const server = await startServer({ dataDir: tmp(), address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", logger: silentLogger() });
    try {
      const svc = spawnChild(FIXTURE, { MICRO_SERVER: server.address, SVC_NAME: "pinger" });
      const started = await svc.waitFor((l) => l["started"] === "pinger");
      assert.equal(started["registry"], "service");
      const [rec] = await server.registry.getService("pinger");
      assert.ok(rec?.endpoints?.some((e) => e.name === "Ping.Hello"));
      const r = await post(server.gatewayAddress, "/pinger/ping/hello", { name: "Ada" });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { msg: "hello Ada", from: "pinger" });
      const missing = await post(server.gatewayAddress, "/nobody/ping/hello", {});
      assert.equal(missing.status, 404);
      svc.proc.kill("SIGTERM");
      assert.equal(await svc.exited, 0);
      await assert.rejects(server.registry.getService("pinger"), (e: unknown) => e instanceof MicroError && e.code === 404);
    } finally {
      await server.stop();
    }
  });

  it("services re-register within two TTLs after a server restart; a dead service's registration expires", async () => {
    const dataDir = tmp();
    const ttl = 1000;
    let server = await startServer({ dataDir, address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", sweepInterval: 50, logger: silentLogger() });
    const { address, gatewayAddress } = server;
    const svc = spawnChild(FIXTURE, { MICRO_SERVER: address, SVC_NAME: "survivor", MICRO_REGISTER_TTL: String(ttl / 1000) });
    await svc.waitFor((l) => l["started"] === "survivor");
    await server.stop();
    server = await startServer({ dataDir, address, gatewayAddress, sweepInterval: 50, logger: silentLogger() });
    try {
      const { elapsed } = await until(() => server.registry.getService("survivor"), 2 * ttl);
      assert.ok(elapsed <= 2 * ttl, `re-registered after ${elapsed} ms`);
      const r = await post(server.gatewayAddress, "/survivor/ping/hello", { name: "again" });
      assert.equal(r.status, 200);
      assert.equal(r.json["msg"], "hello again");
      svc.proc.kill("SIGKILL");
      await svc.exited;
      const gone = await until(async () => {
        await assert.rejects(server.registry.getService("survivor"), (e: unknown) => e instanceof MicroError && e.code === 404);
      }, 3 * ttl);
      assert.ok(gone.elapsed <= 2 * ttl, `expired after ${gone.elapsed} ms`);
    } finally {
      await server.stop();
    }
  });

  it("runs as a child process; store, config and events round-trip through the core services", async () => {
    const dataDir = tmp();
    const srv = spawnChild(SERVER, {}, ["--data-dir", dataDir, "--address", "127.0.0.1:0", "--gateway-address", "127.0.0.1:0"]);
    const line = await srv.waitFor((l) => typeof l["address"] === "string");
    const address = line["address"] as string;
    const gateway = line["gatewayAddress"] as string;
    const admin = new RpcClient({ registry: memoryRegistry(), transport: tcpTransport() });
    await admin.call("config", "Config.Set", { path: "greeting", value: "hi from the server" }, { address });
    const svc = spawnChild(FIXTURE, { MICRO_SERVER: address, SVC_NAME: "keeper" });
    await svc.waitFor((l) => l["started"] === "keeper");
    const r = await post(gateway, "/keeper/ping/remember", { key: "k1", value: { n: 1 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json["value"], { n: 1 });
    assert.equal(r.json["greeting"], "hi from the server");
    // The same state seen from outside the service: the service's table is its name.
    const store = serviceStore({ address, table: "keeper" });
    assert.deepEqual((await store.read("k1"))[0]?.value, { n: 1 });
    const events = serviceEvents({ address });
    const [ev] = await events.read("keeper.remembered");
    assert.equal(ev?.id, r.json["event"]);
    const registry = serviceRegistry({ address });
    assert.ok((await registry.listServices()).some((s) => s.name === "keeper"));
    for (const c of [store, events, registry, admin]) await c.close();
    svc.proc.kill("SIGTERM");
    await svc.exited;
    srv.proc.kill("SIGTERM");
    assert.equal(await srv.exited, 0);
  });
});
