/**
 * Plugins chosen by environment only (MICRO_REGISTRY=etcd, MICRO_BROKER=nats): the
 * examples/nats-etcd services in real processes, against a private etcd and the NATS server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MicroError } from "@micro-ts/micro";
import { loadPlugin } from "../packages/micro/src/service/plugins.js";
import { EtcdTestServer } from "../plugins/etcd/src/test-server.js";
import { startTs, type Child } from "./helpers.js";

describe("plugins chosen by environment", () => {
  const etcd = new EtcdTestServer();
  const children: Child[] = [];
  before(() => etcd.start());
  after(async () => {
    for (const c of children) c.proc.kill("SIGKILL");
    await etcd.stop();
  });

  it("runs two services across etcd (registry) and NATS (broker) with no plugin named in code", async () => {
    const env = { MICRO_REGISTRY: "etcd", MICRO_REGISTRY_ADDRESS: etcd.address, MICRO_BROKER: "nats", MICRO_BROKER_ADDRESS: "127.0.0.1:4222", MICRO_LOG_LEVEL: "warn" };
    const greeter = startTs("examples/nats-etcd/greeter.ts", env);
    children.push(greeter);
    await greeter.waitFor((l) => l["ready"] === true);
    const caller = startTs("examples/nats-etcd/caller.ts", env);
    children.push(caller);
    assert.equal(await caller.exited, 0, caller.stderr());
    assert.ok(caller.lines.some((l) => l["text"] === "Hello Ada (registry etcd, transport tcp)"), JSON.stringify(caller.lines));
    await greeter.waitFor((l) => l["order"] === "42");
    // gone before the next test: its queue group would share that test's messages
    greeter.proc.kill("SIGTERM");
    assert.equal(await greeter.exited, 0);
  });

  it("runs the same services entirely on NATS: registry, transport and broker by environment", async () => {
    const env = { MICRO_REGISTRY: "nats", MICRO_TRANSPORT: "nats", MICRO_BROKER: "nats", MICRO_LOG_LEVEL: "warn" };
    const greeter = startTs("examples/nats-etcd/greeter.ts", env);
    children.push(greeter);
    await greeter.waitFor((l) => l["ready"] === true);
    const caller = startTs("examples/nats-etcd/caller.ts", env);
    children.push(caller);
    assert.equal(await caller.exited, 0, caller.stderr());
    assert.ok(caller.lines.some((l) => l["text"] === "Hello Ada (registry nats, transport nats)"), JSON.stringify(caller.lines));
    await greeter.waitFor((l) => l["order"] === "42");
  });

  it("a plugin that is not installed fails with the npm install to run", async () => {
    const missing = Object.assign(new Error("Cannot find package"), { code: "ERR_MODULE_NOT_FOUND" });
    await assert.rejects(
      loadPlugin("store", "postgres", undefined, "t", () => Promise.reject(missing)),
      (e: unknown) => e instanceof MicroError && e.code === 500 && /npm install @micro-ts\/postgres/.test(e.detail),
    );
    await assert.rejects(loadPlugin("broker", "carrier-pigeon", undefined), (e: unknown) => e instanceof MicroError && e.code === 400);
  });
});
