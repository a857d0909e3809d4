import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import { memoryRegistry } from "../registry/memory.js";
import type { Registry, RegistryEvent, ServiceRecord } from "../registry/registry.js";
import type { Broker, BrokerEvent } from "./broker.js";
import { runBrokerConformance } from "./conformance.js";
import { httpBroker, type HttpBrokerOptions } from "./http.js";
import { BROADCAST_VERSION, HTTP_BROKER_SERVICE } from "./http-wire.js";

const registries: Registry[] = [];
after(() => Promise.all(registries.map((r) => r.close())));
function registry(): Registry {
  const r = memoryRegistry({ sweepInterval: 50 });
  registries.push(r);
  return r;
}

runBrokerConformance({ name: "http (one instance)", create: () => httpBroker({ registry: registry() }) });
runBrokerConformance({
  name: "http (two instances, one registry)",
  create: () => httpBroker({ registry: registry() }),
  createPair: async () => {
    const r = registry();
    return [httpBroker({ registry: r }), httpBroker({ registry: r })];
  },
});

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const code = (c: number) => (e: unknown) => e instanceof MicroError && e.code === c;

/** Brokers closed after each test, in a fresh registry. */
function fixture(t: { after(fn: () => Promise<unknown>): void }) {
  const reg = registry();
  const brokers: Broker[] = [];
  t.after(() => Promise.all(brokers.map((b) => b.close())));
  return {
    reg,
    broker(o: Partial<HttpBrokerOptions> = {}) {
      const b = httpBroker({ registry: reg, ...o });
      brokers.push(b);
      return b;
    },
  };
}

/** Resolves with each event once `n` arrived. */
function inbox(n: number) {
  const events: BrokerEvent[] = [];
  let done!: () => void;
  const full = new Promise<void>((r) => (done = r));
  const handler = (ev: BrokerEvent): void => {
    events.push(ev);
    if (events.length === n) done();
  };
  return { events, full, handler };
}

async function nodeOf(reg: Registry, topic: string): Promise<{ id: string; address: string }> {
  const recs = await reg.getService(HTTP_BROKER_SERVICE);
  const node = recs.flatMap((r) => r.nodes).find((n) => n.metadata?.["topic"] === topic);
  assert.ok(node, `no node for ${topic}`);
  return node;
}

async function raw(address: string, path: string, body: string | Uint8Array, method = "POST") {
  const res = await fetch(`http://${address}${path}`, method === "GET" ? { method } : { method, body });
  const text = await res.text();
  return { status: res.status, error: text ? (JSON.parse(text) as { code: number }) : undefined };
}

const envelope = (topic: string, body: string, header: Record<string, unknown> = {}) =>
  JSON.stringify({ header: { "Micro-Topic": topic, ...header }, body: Buffer.from(body).toString("base64") });

describe("http broker", () => {
  it("registers each subscription in go-micro's layout and deregisters it", async (t) => {
    const { reg, broker } = fixture(t);
    const b = broker();
    const fan = await b.subscribe("orders", () => undefined);
    await b.subscribe("orders", () => undefined, { queue: "billing" });
    const recs = await reg.getService(HTTP_BROKER_SERVICE);
    const byVersion = new Map(recs.map((r: ServiceRecord) => [r.version, r]));
    const broadcast = byVersion.get(BROADCAST_VERSION)?.nodes[0];
    const queued = byVersion.get("billing")?.nodes[0];
    assert.ok(broadcast && queued);
    assert.deepEqual(broadcast.metadata, { broker: "http", topic: "orders", secure: "false" });
    assert.deepEqual(queued.metadata, { broker: "http", topic: "orders", secure: "false", queue: "billing" });
    assert.match(broadcast.address, /^127\.0\.0\.1:[1-9]\d*$/);
    assert.notEqual(broadcast.id, queued.id);
    await fan.unsubscribe();
    assert.deepEqual((await reg.getService(HTTP_BROKER_SERVICE)).map((r) => r.version), ["billing"]);
    await b.close();
    await assert.rejects(reg.getService(HTTP_BROKER_SERVICE), code(404));
  });

  it("renews its registrations before their TTL runs out", async (t) => {
    const { reg, broker } = fixture(t);
    const w = reg.watch({ service: HTTP_BROKER_SERVICE });
    t.after(async () => w.stop());
    await broker({ registerTTL: 400, registerInterval: 100 }).subscribe("renewed", () => undefined);
    const seen: RegistryEvent["action"][] = [];
    for await (const ev of w) {
      seen.push(ev.action);
      if (seen.filter((a) => a === "update").length === 3) break;
    }
    assert.deepEqual(seen, ["create", "update", "update", "update"]);
    await nodeOf(reg, "renewed");
  });

  it("answers an oversized body with 413 and does not deliver it", async (t) => {
    const { reg, broker } = fixture(t);
    const sub = broker({ maxBodyBytes: 1024 });
    const got = inbox(1);
    await sub.subscribe("big", got.handler);
    const pub = broker();
    await assert.rejects(pub.publish("big", { header: {}, body: new Uint8Array(4096) }), code(413));
    const node = await nodeOf(reg, "big");
    const r = await raw(node.address, `/?id=${node.id}`, envelope("big", "x".repeat(2000)));
    assert.equal(r.status, 413);
    assert.equal(r.error?.code, 413);
    await pub.publish("big", { header: {}, body: bytes("small") });
    await got.full;
    assert.deepEqual(got.events.map((e) => Buffer.from(e.body).toString()), ["small"]);
  });

  it("answers malformed requests with 4xx and keeps serving", async (t) => {
    const { reg, broker } = fixture(t);
    const got = inbox(2);
    await broker().subscribe("t", got.handler);
    const { id, address } = await nodeOf(reg, "t");
    const path = `/?id=${encodeURIComponent(id)}`;
    const cases: [string, string, number][] = [
      ["not JSON", "{nope", 400],
      ["an array", "[]", 400],
      ["a header that is not a string", envelope("t", "x", { n: 1 }), 400],
      ["a body that is not base64", JSON.stringify({ header: { "Micro-Topic": "t" }, body: "@@@" }), 400],
      ["no topic", JSON.stringify({ header: {}, body: "" }), 400],
      ["another topic", envelope("other", "x"), 404],
    ];
    for (const [what, body, status] of cases) {
      const r = await raw(address, path, body);
      assert.equal(r.status, status, what);
      assert.equal(r.error?.code, status, what);
    }
    assert.equal((await raw(address, "/?id=unknown", envelope("t", "x"))).status, 404);
    assert.equal((await raw(address, "/other", envelope("t", "x"))).status, 404);
    assert.equal((await raw(address, path, "", "GET")).status, 405);
    // go-micro's own envelope casing is accepted.
    const goStyle = JSON.stringify({ Header: { "Micro-Topic": "t", k: "v" }, Body: Buffer.from("go").toString("base64") });
    assert.equal((await raw(address, path, goStyle)).status, 200);
    await broker().publish("t", { header: {}, body: bytes("ts") });
    await got.full;
    assert.deepEqual(got.events.map((e) => Buffer.from(e.body).toString()), ["go", "ts"]);
    assert.equal(got.events[0]?.header["k"], "v");
  });

  it("moves a queue group's message to another member when one died", async (t) => {
    const { reg, broker } = fixture(t);
    // A member that dies without deregistering: its records outlive it.
    const stale: Registry = {
      name: "stale",
      register: (s, o) => reg.register(s, o),
      deregister: async () => undefined,
      getService: (n) => reg.getService(n),
      listServices: () => reg.listServices(),
      watch: (o) => reg.watch(o),
      close: async () => undefined,
    };
    const dying = httpBroker({ registry: stale });
    t.after(() => dying.close());
    const survivor = broker();
    const pub = broker();
    let died = 0;
    let lived = 0;
    await dying.subscribe("jobs", () => void died++, { queue: "workers" });
    await dying.subscribe("jobs", () => undefined);
    await survivor.subscribe("jobs", () => void lived++, { queue: "workers" });
    // Until both members took a message, so the publisher holds a warm connection to each.
    for (let i = 0; i < 200 && (died === 0 || lived === 0); i++) await pub.publish("jobs", { header: {}, body: bytes("warm") });
    assert.ok(died > 0 && lived > 0);
    await dying.close();
    assert.equal((await reg.getService(HTTP_BROKER_SERVICE)).flatMap((r) => r.nodes).length, 3);
    const before = lived;
    for (let i = 0; i < 20; i++) await pub.publish("jobs", { header: {}, body: bytes(`after ${i}`) });
    assert.equal(lived, before + 20);
  });

  it("speaks go-micro's wire format, many messages per keep-alive connection", async (t) => {
    const { reg, broker } = fixture(t);
    const requests: { method?: string; url?: string; type?: string; body: string }[] = [];
    let connections = 0;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        requests.push({ method: req.method, url: req.url, type: req.headers["content-type"], body: Buffer.concat(chunks).toString() });
        res.end();
      });
    });
    server.on("connection", () => connections++);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const node = { id: "go-subscriber-1", address, metadata: { broker: "http", topic: "wire", secure: "false" } };
    await reg.register({ name: HTTP_BROKER_SERVICE, version: BROADCAST_VERSION, nodes: [node] });
    const pub = broker();
    for (let i = 0; i < 20; i++) await pub.publish("wire", { header: { i: String(i) }, body: new Uint8Array([0, 255, i]) });
    assert.equal(requests.length, 20);
    assert.equal(connections, 1);
    const first = requests[0];
    assert.equal(first?.method, "POST");
    assert.equal(first?.url, "/?id=go-subscriber-1");
    assert.equal(first?.type, "application/json");
    assert.deepEqual(JSON.parse(first?.body ?? ""), { header: { i: "0", "Micro-Topic": "wire" }, body: "AP8A" });
  });

  it("rejects with 504 when a subscriber does not answer in time", async (t) => {
    const { reg, broker } = fixture(t);
    const server = http.createServer(() => undefined);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    await reg.register({ name: HTTP_BROKER_SERVICE, version: BROADCAST_VERSION, nodes: [{ id: "mute", address, metadata: { topic: "slow" } }] });
    await assert.rejects(broker({ publishTimeout: 100 }).publish("slow", { header: {}, body: bytes("x") }), code(504));
  });
});
