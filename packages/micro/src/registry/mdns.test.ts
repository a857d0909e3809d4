import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import { runRegistryConformance } from "./conformance.js";
import { CLASS_IN, FLAG_RESPONSE, TYPES, encodeMessage } from "./dns.js";
import { decodeTxt, encodeTxt, mdnsRegistry, type MdnsRegistryOptions } from "./mdns.js";
import type { Registry, RegistryEvent, ServiceRecord, Watcher } from "./registry.js";

// A random port and domain per file, so parallel test files never hear each other.
const port = 40000 + Math.floor(Math.random() * 20000);
const domain = `t${randomBytes(4).toString("hex")}`;
// Tests always pin multicast to loopback, whatever MICRO_MDNS_INTERFACE says.
const opts = (o: MdnsRegistryOptions = {}): MdnsRegistryOptions => ({
  interface: "127.0.0.1",
  port,
  domain,
  ...o,
});
const is404 = (e: unknown) => e instanceof MicroError && e.code === 404;

/** Writes go to one registry, reads come from another: everything it sees crossed the wire. */
function pair(a: Registry, b: Registry): Registry {
  return {
    name: "mdns-pair",
    register: (s, o) => a.register(s, o),
    deregister: (s) => a.deregister(s),
    getService: (n) => b.getService(n),
    listServices: () => b.listServices(),
    watch: (o) => b.watch(o),
    close: async () => void (await Promise.all([a.close(), b.close()])),
  };
}

runRegistryConformance({
  name: "mdns",
  create: () => mdnsRegistry(opts()),
  settle: 1000,
  minTTL: 300,
});
runRegistryConformance({
  name: "mdns, two instances sharing discovery",
  create: () => pair(mdnsRegistry(opts()), mdnsRegistry(opts())),
  settle: 1000,
  minTTL: 300,
});

const open: Registry[] = [];
const make = (o: MdnsRegistryOptions = {}) => {
  const r = mdnsRegistry(opts(o));
  open.push(r);
  return r;
};
after(() => Promise.all(open.map((r) => r.close())));

const uniq = (p: string) => `${p}-${randomBytes(4).toString("hex")}`;
const rec = (name: string, id: string, extra: Partial<ServiceRecord> = {}): ServiceRecord => ({
  name,
  version: "1.0.0",
  nodes: [{ id, address: "127.0.0.1:4000", metadata: { transport: "tcp" } }],
  ...extra,
});

/** The next matching event; iterates by hand, since leaving a for-await would end the watcher. */
async function next(w: Watcher, pred: (e: RegistryEvent) => boolean): Promise<RegistryEvent> {
  const it = w[Symbol.asyncIterator]();
  for (let r = await it.next(); !r.done; r = await it.next()) if (pred(r.value)) return r.value;
  throw new Error("watcher ended");
}

describe("mdns registry", () => {
  it("finds a service registered before this registry started", async () => {
    const a = make();
    const name = uniq("early");
    await a.register(rec(name, `${name}-1`));
    const b = make();
    const got = await b.getService(name);
    assert.equal(got[0]?.nodes[0]?.id, `${name}-1`);
    const list = await make().listServices();
    assert.ok(list.some((s) => s.name === name));
  });

  it("carries a record that spans many TXT strings", async () => {
    const endpoints = Array.from({ length: 200 }, (_, i) => ({
      name: `Handler.Method${i}`,
      request: {
        name: "Req",
        type: "Req",
        values: [{ name: `field${i}`, type: randomBytes(8).toString("hex") }],
      },
      response: null,
      metadata: { description: randomBytes(16).toString("hex") },
    }));
    const txt = encodeTxt({ Service: "big", Version: "1", Endpoints: endpoints, Metadata: {} });
    assert.ok(txt.length > 4 && txt.every((s) => s.length <= 255));
    assert.equal(decodeTxt(txt)?.Endpoints?.length, 200);
    const a = make();
    const b = make();
    const name = uniq("big");
    await a.register(rec(name, `${name}-1`, { endpoints }));
    const got = await b.getService(name);
    assert.deepEqual(got[0]?.endpoints?.[199], endpoints[199]);
  });

  it("drops a deregistered node at its peers at once (goodbye)", async () => {
    const a = make();
    const b = make();
    const name = uniq("bye");
    const w = b.watch({ service: name });
    await a.register(rec(name, `${name}-1`), { ttl: 60_000 });
    await next(w, (e) => e.action === "create");
    const start = Date.now();
    await a.deregister(rec(name, `${name}-1`));
    const ev = await next(w, (e) => e.action === "delete");
    w.stop();
    assert.equal(ev.service.nodes[0]?.id, `${name}-1`);
    assert.ok(Date.now() - start < 1000);
    await assert.rejects(b.getService(name), is404);
  });

  it("reports an update when a node's record changes", async () => {
    const a = make();
    const b = make();
    const name = uniq("upd");
    const w = b.watch({ service: name });
    await a.register(rec(name, `${name}-1`));
    await next(w, (e) => e.action === "create");
    await a.register(rec(name, `${name}-1`, { metadata: { v: "2" } }));
    const ev = await next(w, (e) => e.action === "update");
    w.stop();
    assert.equal(ev.service.metadata?.["v"], "2");
  });

  it("keeps domains apart on one port", async () => {
    const a = make({ domain: `${domain}-x` });
    const b = make({ domain: `${domain}-y` });
    const name = uniq("dom");
    await a.register(rec(name, `${name}-1`));
    await assert.rejects(b.getService(name), is404);
  });

  it("rejects an unknown service within a bounded wait", async () => {
    const r = make({ timeout: 150 });
    await r.listServices();
    const start = Date.now();
    await assert.rejects(r.getService(uniq("missing")), is404);
    assert.ok(Date.now() - start < 1000);
  });

  it("ignores malformed packets and undecodable TXT records", async () => {
    const r = make();
    const name = uniq("after-junk");
    await r.listServices();
    const sock = dgram.createSocket({ type: "udp4", reuseAddr: true });
    await new Promise<void>((res) => sock.bind(0, "127.0.0.1", res));
    sock.setMulticastInterface("127.0.0.1");
    sock.setMulticastTTL(1);
    const fqdn = `n.${name}.${domain}.`;
    const junk = [
      randomBytes(40),
      Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 5, 0, 0, 0, 0]),
      encodeMessage({
        flags: FLAG_RESPONSE,
        answers: [{ name: fqdn, type: TYPES.TXT, class: CLASS_IN, ttl: 9, data: ["zz"] }],
      }),
      encodeMessage({
        flags: FLAG_RESPONSE,
        answers: [
          {
            name: fqdn,
            type: TYPES.TXT,
            class: CLASS_IN,
            ttl: 9,
            data: encodeTxt({ Service: name } as never),
          },
        ],
      }),
    ];
    for (const b of junk)
      await new Promise<void>((res) => sock.send(b, port, "224.0.0.251", () => res()));
    sock.close();
    await assert.rejects(r.getService(name), is404);
    await make().register(rec(name, `${name}-1`));
    assert.equal((await r.getService(name))[0]?.nodes.length, 1);
  });

  it("validates its options at construction", () => {
    const bad = (e: unknown) => e instanceof MicroError && e.code === 400;
    assert.throws(() => mdnsRegistry({ interface: "eth0" }), bad);
    assert.throws(() => mdnsRegistry({ port: 70000 }), bad);
    assert.throws(() => mdnsRegistry({ domain: "a..b" }), bad);
  });

  it("rejects a service name that cannot be a DNS name", async () => {
    const r = make();
    const bad = (e: unknown) => e instanceof MicroError && e.code === 400;
    await assert.rejects(r.register(rec("x".repeat(64), "n1")), bad);
  });

  it("releases its socket and timers on close, and refuses use afterwards", async () => {
    const before = process.getActiveResourcesInfo().filter((x) => x === "UDPWrap").length;
    const r = mdnsRegistry(opts());
    await r.register(rec(uniq("closing"), "n1"), { ttl: 5000 });
    const w = r.watch();
    await r.close();
    assert.equal((await w[Symbol.asyncIterator]().next()).done, true);
    await assert.rejects(
      r.getService("x"),
      (e: unknown) => e instanceof MicroError && e.code === 503,
    );
    // The handle closes on the next turns of the loop.
    for (
      let i = 0;
      i < 50 && process.getActiveResourcesInfo().filter((x) => x === "UDPWrap").length > before;
      i++
    ) {
      await new Promise((res) => setImmediate(res));
    }
    assert.equal(process.getActiveResourcesInfo().filter((x) => x === "UDPWrap").length, before);
  });

  it("discovers across instances on the default port (5353)", async () => {
    const def = () => {
      const r = mdnsRegistry({ interface: "127.0.0.1", domain });
      open.push(r);
      return r;
    };
    const a = def();
    const b = def();
    const name = uniq("default-port");
    await a.register(rec(name, `${name}-1`));
    assert.equal((await b.getService(name))[0]?.nodes[0]?.id, `${name}-1`);
  });
});
