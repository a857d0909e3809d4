import assert from "node:assert/strict";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import { memoryBroker } from "../broker/memory.js";
import type { Context } from "../context/context.js";
import { currentContext } from "../context/context.js";
import { badRequest, MicroError } from "../errors/errors.js";
import { silentLogger } from "../logger/logger.js";
import { memoryRegistry } from "../registry/memory.js";
import type { Registry } from "../registry/registry.js";
import type { StandardSchemaV1 } from "../schema/standard-schema.js";
import { memoryTransport } from "../transport/memory.js";
import { tcpTransport } from "../transport/tcp.js";
import { httpTransport } from "../transport/http.js";
import type { Transport } from "../transport/transport.js";
import { Service, type ServiceOptions } from "./service.js";

class Greeter {
  seenSignal: AbortSignal | undefined;
  async hello(req: { name: string }): Promise<{ msg: string }> {
    if (!req.name) throw badRequest("greeter.hello", "name is required");
    return { msg: `Hello ${req.name}` };
  }
  async *count(req: { to: number }, ctx: Context): AsyncGenerator<{ n: number }> {
    this.seenSignal = ctx.signal;
    for (let i = 1; i <= req.to; i++) yield { n: i };
  }
  async crash(): Promise<never> {
    const e = new Error("secret internal detail");
    e.stack = "Error: secret internal detail\n    at /srv/app/greeter.ts:42:7";
    throw e;
  }
  async slow(_req: unknown, ctx: Context): Promise<{ aborted: boolean }> {
    this.seenSignal = ctx.signal;
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    return { aborted: true };
  }
  async meta(_req: unknown, ctx: Context): Promise<Record<string, string>> {
    return ctx.metadata;
  }
  async deadline(): Promise<{ remaining: number | undefined }> {
    const d = currentContext()?.deadline;
    return { remaining: d === undefined ? undefined : d - Date.now() };
  }
}

const nameSchema: StandardSchemaV1<{ name: string }> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: (v) =>
      typeof v === "object" && v !== null && typeof (v as { name?: unknown }).name === "string"
        ? { value: v as { name: string } }
        : { issues: [{ message: "expected a string", path: ["name"] }] },
  },
};

for (const kind of ["memory", "tcp", "http"] as const) {
  describe(`service over ${kind} transport`, () => {
    const registry: Registry = memoryRegistry();
    const transport: Transport = kind === "memory" ? memoryTransport() : kind === "tcp" ? tcpTransport() : httpTransport();
    const broker = memoryBroker();
    const services: Service[] = [];
    const make = (o: Partial<ServiceOptions> & { name: string }) => {
      const s = new Service({ registry, transport, broker, logger: silentLogger(), ...o });
      services.push(s);
      return s;
    };
    after(async () => {
      await Promise.all(services.map((s) => s.stop()));
    });

    const greeter = new Greeter();
    const server = make({ name: "greeter" });
    server.handle(greeter, { endpoints: { hello: { request: nameSchema } } });
    const caller = make({ name: "caller" });
    const ready = server.start();

    it("registers the service with its endpoints and node", async () => {
      await ready;
      const [rec] = await registry.getService("greeter");
      assert.ok(rec);
      const names = rec.endpoints!.map((e) => e.name).sort();
      assert.deepEqual(names, ["Greeter.Count", "Greeter.Crash", "Greeter.Deadline", "Greeter.Hello", "Greeter.Meta", "Greeter.Slow"]);
      assert.equal(rec.endpoints!.find((e) => e.name === "Greeter.Count")!.metadata!["stream"], "true");
      assert.equal(rec.nodes[0]!.metadata!["transport"], kind);
    });

    it("calls an endpoint with the untyped and the typed client", async () => {
      await ready;
      assert.deepEqual(await caller.client.call("greeter", "Greeter.Hello", { name: "Ada" }), { msg: "Hello Ada" });
      const g = caller.client.service<Greeter>("greeter", "Greeter");
      const rsp = await g.hello({ name: "Bob" });
      assert.equal(rsp.msg, "Hello Bob");
    });

    it("matches endpoint names case-insensitively", async () => {
      await ready;
      assert.deepEqual(await caller.client.call("greeter", "greeter.hello", { name: "Ada" }), { msg: "Hello Ada" });
    });

    it("streams from an async generator", async () => {
      await ready;
      const got: number[] = [];
      for await (const x of caller.client.service<Greeter>("greeter").count({ to: 5 })) got.push(x.n);
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
    });

    it("breaking out of a stream cancels it on the server", async () => {
      await ready;
      const got: number[] = [];
      for await (const x of caller.client.stream<{ n: number }>("greeter", "Greeter.Count", { to: 1_000_000 })) {
        got.push(x.n);
        if (x.n === 3) break;
      }
      assert.deepEqual(got, [1, 2, 3]);
      const sig = greeter.seenSignal!;
      if (!sig.aborted) await once(sig, "abort");
      assert.equal(sig.aborted, true);
    });

    it("carries a MicroError across the wire intact", async () => {
      await ready;
      await assert.rejects(caller.client.call("greeter", "Greeter.Hello", { name: "" }), (e: unknown) => {
        assert.ok(e instanceof MicroError);
        assert.equal(e.code, 400);
        assert.equal(e.id, "greeter.hello");
        assert.equal(e.detail, "name is required");
        assert.equal(e.status, "Bad Request");
        return true;
      });
    });

    it("validates requests with a Standard Schema", async () => {
      await ready;
      await assert.rejects(caller.client.call("greeter", "Greeter.Hello", { name: 42 }), (e: unknown) => {
        assert.ok(e instanceof MicroError && e.code === 400);
        assert.match(e.detail, /name/);
        return true;
      });
    });

    it("turns a thrown Error into a 500 without the stack", async () => {
      await ready;
      await assert.rejects(caller.client.call("greeter", "Greeter.Crash", {}), (e: unknown) => {
        assert.ok(e instanceof MicroError && e.code === 500);
        assert.doesNotMatch(e.detail, /greeter\.ts:42/);
        assert.doesNotMatch(e.detail, /secret internal detail/);
        return true;
      });
    });

    it("answers an unknown service with a 404 naming it", async () => {
      await assert.rejects(caller.client.call("nosuch", "X.Y", {}), (e: unknown) => {
        assert.ok(e instanceof MicroError && e.code === 404);
        assert.match(e.detail, /nosuch/);
        return true;
      });
    });

    it("answers an unknown endpoint with a 404 naming it and listing the existing ones", async () => {
      await ready;
      await assert.rejects(caller.client.call("greeter", "Greeter.Nope", {}), (e: unknown) => {
        assert.ok(e instanceof MicroError && e.code === 404);
        assert.match(e.detail, /Greeter\.Nope/);
        assert.match(e.detail, /Greeter\.Hello/);
        return true;
      });
    });

    it("times out past the deadline and fires the handler's AbortSignal", async () => {
      await ready;
      await assert.rejects(caller.client.call("greeter", "Greeter.Slow", {}, { timeout: 100 }), (e: unknown) => {
        assert.ok(e instanceof MicroError && e.code === 408);
        return true;
      });
      const sig = greeter.seenSignal!;
      if (!sig.aborted) await once(sig, "abort");
      assert.equal(sig.aborted, true);
    });

    it("sends metadata headers and propagates the context to nested calls", async () => {
      await ready;
      const md = await caller.client.call<Record<string, string>>("greeter", "Greeter.Meta", {}, { metadata: { "X-User": "ada" } });
      assert.equal(md["x-user"], "ada");
      const relay = make({ name: `relay-${kind}` });
      relay.handle(
        {
          async go() {
            return caller.client.call("greeter", "Greeter.Deadline", {});
          },
          async meta() {
            return caller.client.call("greeter", "Greeter.Meta", {});
          },
        },
        { name: "Relay" },
      );
      await relay.start();
      const r = await caller.client.call<{ remaining: number }>(`relay-${kind}`, "Relay.Go", {}, { timeout: 1500 });
      assert.ok(r.remaining <= 1500 && r.remaining > 0, `nested call inherited the deadline: ${r.remaining}`);
      const m = await caller.client.call<Record<string, string>>(`relay-${kind}`, "Relay.Meta", {}, { metadata: { "x-trace": "t1" } });
      assert.equal(m["x-trace"], "t1");
    });

    it("runs server and client middleware in order", async () => {
      const order: string[] = [];
      const svc = make({ name: `mw-${kind}` });
      svc.use(async (req, next) => {
        order.push(`server:${req.endpoint}`);
        const r = (await next()) as { msg: string };
        return { msg: r.msg + "!" };
      });
      svc.handle(new Greeter());
      await svc.start();
      const c = make({ name: `mwc-${kind}` });
      c.useClient(async (req, next) => {
        order.push(`client:${req.endpoint}`);
        return next();
      });
      assert.deepEqual(await c.client.call(`mw-${kind}`, "Greeter.Hello", { name: "Ada" }), { msg: "Hello Ada!" });
      assert.deepEqual(order, ["client:Greeter.Hello", "server:Greeter.Hello"]);
    });

    it("publishes to subscribers: queue groups get one copy, plain subscribers all", async () => {
      const topic = `user.created.${kind}`;
      const seen: string[] = [];
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const check = () => seen.length === 3 && done();
      for (const n of ["q1", "q2"]) {
        const s = make({ name: `sub-${n}-${kind}` });
        s.subscribe<{ id: string }>(topic, (p) => void (seen.push(`queue:${p.id}`), check()), { queue: "workers" });
        await s.start();
      }
      for (const n of ["f1", "f2"]) {
        const s = make({ name: `sub-${n}-${kind}` });
        s.subscribe<{ id: string }>(topic, (p) => void (seen.push(`fan:${p.id}`), check()));
        await s.start();
      }
      await caller.publish(topic, { id: "1" });
      await all;
      assert.deepEqual(seen.sort(), ["fan:1", "fan:1", "queue:1"]);
    });

    it("routes to a chosen version or node", async () => {
      const name = `versions-${kind}`;
      const v1 = make({ name, version: "1.0.0" });
      const v2 = make({ name, version: "2.0.0" });
      v1.handle({ async which() { return "v1"; } }, { name: "V" });
      v2.handle({ async which() { return "v2"; } }, { name: "V" });
      await v1.start();
      await v2.start();
      for (let i = 0; i < 10; i++) {
        assert.equal(await caller.client.call(name, "V.Which", {}, { version: "2.0.0" }), "v2");
        assert.equal(await caller.client.call(name, "V.Which", {}, { node: v1.id }), "v1");
      }
      await assert.rejects(caller.client.call(name, "V.Which", {}, { version: "9" }), (e: unknown) => e instanceof MicroError && e.code === 503);
    });

    it("retries on another node when one is gone, and never retries handler errors", async () => {
      const name = `pool-${kind}`;
      const a = make({ name });
      const b = make({ name });
      let calls = 0;
      const h = { async ping() { calls++; return { ok: true }; }, async fail() { calls++; throw badRequest(name, "no"); } };
      a.handle(h, { name: "Pool" });
      b.handle(h, { name: "Pool" });
      await a.start();
      await b.start();
      await caller.client.call(name, "Pool.Ping", {});
      // b's listener vanishes but its registration stays: a dead node still in the registry
      await b.server.stop({ drainTimeout: 0 });
      for (let i = 0; i < 20; i++) assert.deepEqual(await caller.client.call(name, "Pool.Ping", {}), { ok: true });
      calls = 0;
      await assert.rejects(caller.client.call(name, "Pool.Fail", {}, { retries: 3 }), (e: unknown) => e instanceof MicroError && e.code === 400);
      assert.equal(calls, 1);
    });
  });
}
