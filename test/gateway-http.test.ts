// The API gateway over HTTP: path mapping, request decoding, /rpc, errors, openapi, CORS.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { errors } from "@micro-ts/micro";
import { createGateway } from "@micro-ts/server";
import { json, raw, req, startStack, type Stack } from "./fixtures/gateway-stack.js";

describe("gateway: path mapping", () => {
  let s: Stack;
  before(async () => (s = await startStack()));
  after(() => s.close());

  it("maps /greeter to Greeter.Call", async () => {
    const r = await req(s.base, "/greeter", json({ a: "1" }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { via: "Greeter.Call", req: { a: "1" } });
  });

  it("maps /greeter/hello to Greeter.Hello", async () => {
    const r = await req(s.base, "/greeter/hello", json({ name: "Ada" }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { msg: "Hello Ada" });
  });

  it("maps kebab-case to CamelCase: /greeter/say-hello → Greeter.SayHello", async () => {
    const r = await req(s.base, "/greeter/say-hello", json({ name: "Ada" }));
    assert.equal(r.status, 200);
    assert.equal(r.body["via"], "Greeter.SayHello");
  });

  it("matches endpoints case-insensitively", async () => {
    for (const p of ["/greeter/SAYHELLO", "/greeter/Say-Hello", "/greeter/greeter/say_hello", "/greeter/GREETER/sayhello"]) {
      const r = await req(s.base, p, json({ name: "Ada" }));
      assert.equal(r.status, 200, p);
      assert.equal(r.body["via"], "Greeter.SayHello", p);
    }
  });

  it("maps /greeter/handler/method to Handler.Method", async () => {
    const r = await req(s.base, "/greeter/admin/stats", json({}));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
    const g = await req(s.base, "/greeter/greeter/hello", json({ name: "Bo" }));
    assert.deepEqual(g.body, { msg: "Hello Bo" });
  });

  it("maps /v1/greeter/hello to service v1.greeter, Greeter.Hello", async () => {
    const r = await req(s.base, "/v1/greeter/hello", json({ name: "Vee" }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { msg: "Hello Vee" });
    const h = await req(s.base, "/v1/greeter/hello/world", json({}));
    assert.deepEqual(h.body, { v: "v1" });
    const c = await req(s.base, "/v1/greeter", json({ x: "y" }));
    assert.equal(c.body["via"], "Greeter.Call");
  });

  it("serves the same paths under /api/", async () => {
    assert.deepEqual((await req(s.base, "/api/greeter/hello", json({ name: "Ada" }))).body, { msg: "Hello Ada" });
    assert.deepEqual((await req(s.base, "/api/v1/greeter/hello", json({ name: "V" }))).body, { msg: "Hello V" });
    assert.equal((await req(s.base, "/api/greeter/admin/stats", json({}))).body["ok"], true);
  });

  it("finds a unique method on another handler: /greeter/stats → Admin.Stats", async () => {
    const r = await req(s.base, "/greeter/stats", json({}));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
  });

  it("answers 404 naming an unknown service", async () => {
    const r = await req(s.base, "/nosuch/hello", json({}));
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 404);
    assert.equal(r.body["status"], "Not Found");
    assert.match(r.body.detail!, /service nosuch not found/);
  });

  it("answers 404 naming an unknown endpoint and listing the existing ones", async () => {
    const r = await req(s.base, "/greeter/goodbye", json({}));
    assert.equal(r.status, 404);
    assert.match(r.body.detail!, /Greeter\.Goodbye not found on service greeter/);
    assert.match(r.body.detail!, /Greeter\.Hello/);
    assert.match(r.body.detail!, /Admin\.Stats/);
  });

  it("refuses paths with .., NUL bytes or encoded slashes with a 400", async () => {
    for (const p of ["/greeter/%2e%2e/hello", "/greeter/../greeter/hello", "/greeter/hel%00lo", "/greeter%2Fhello", "/greeter/..", "/gr%zzeter", "/greeter/a\\b"]) {
      const r = await raw(s.base, "POST", p, "{}");
      assert.equal(r.status, 400, p);
      assert.equal((JSON.parse(r.body) as { code: number }).code, 400, p);
    }
    assert.equal((await raw(s.base, "POST", "/" + "a".repeat(3000), "{}")).status, 414);
  });

  it("answers GET / with a 404 explaining the mapping", async () => {
    const r = await req(s.base, "/");
    assert.equal(r.status, 404);
  });
});

describe("gateway: request decoding", () => {
  let s: Stack;
  before(async () => (s = await startStack()));
  after(() => s.close());

  it("maps a GET query string to the request (strings; repeated keys → arrays)", async () => {
    const r = await req(s.base, "/greeter/echo?name=Ada&n=3&flag=true&tag=a&tag=b&sp=a%20b");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { name: "Ada", n: "3", flag: "true", tag: ["a", "b"], sp: "a b" });
  });

  it("decodes an url-encoded form", async () => {
    const r = await req(s.base, "/greeter/echo", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "name=Ada+L&x=1&x=2",
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { name: "Ada L", x: ["1", "2"] });
  });

  it("takes JSON sent with curl -d's default form content type", async () => {
    const r = await req(s.base, "/greeter/hello", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: '{"name":"Curl"}' });
    assert.deepEqual(r.body, { msg: "Hello Curl" });
  });

  it("decodes multipart/form-data text fields", async () => {
    const fd = new FormData();
    fd.append("name", "Ada");
    fd.append("tag", "x");
    fd.append("tag", "y");
    const r = await req(s.base, "/greeter/echo", { method: "POST", body: fd });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { name: "Ada", tag: ["x", "y"] });
  });

  it("refuses a multipart file upload with a 400", async () => {
    const fd = new FormData();
    fd.append("f", new Blob(["data"]), "a.txt");
    const r = await req(s.base, "/greeter/echo", { method: "POST", body: fd });
    assert.equal(r.status, 400);
  });

  it("refuses malformed JSON and non-object JSON with a 400", async () => {
    for (const body of ["{", '{"name":', "[1,2]", "42", '"str"', "null", "\u0000\u00ff"]) {
      const r = await req(s.base, "/greeter/hello", { method: "POST", headers: { "content-type": "application/json" }, body });
      assert.equal(r.status, 400, body);
      assert.equal(r.body.code, 400);
    }
  });

  it("refuses an unsupported content type with a 415", async () => {
    const r = await req(s.base, "/greeter/hello", { method: "POST", headers: { "content-type": "application/xml" }, body: "<a/>" });
    assert.equal(r.status, 415);
  });

  it("forwards trace headers as metadata", async () => {
    await req(s.base, "/greeter/hello", { ...json({ name: "Ada" }), headers: { "content-type": "application/json", "x-request-id": "r-1", "x-other": "no" } });
    assert.equal(s.greeter.lastMetadata["x-request-id"], "r-1");
    assert.equal(s.greeter.lastMetadata["x-other"], undefined);
  });
});

describe("gateway: /rpc, health, errors", () => {
  let s: Stack;
  before(async () => (s = await startStack({ timeout: 300, maxBodyBytes: 64 * 1024 })));
  after(() => s.close());

  it("calls an explicit {service, endpoint, request} on POST /rpc", async () => {
    const r = await req(s.base, "/rpc", json({ service: "greeter", endpoint: "greeter.sayhello", request: { name: "Ada" } }));
    assert.equal(r.status, 200);
    assert.equal(r.body["via"], "Greeter.SayHello");
    const v = await req(s.base, "/rpc", json({ service: "v1.greeter", endpoint: "Hello.World" }));
    assert.deepEqual(v.body, { v: "v1" });
  });

  it("validates /rpc bodies", async () => {
    assert.equal((await req(s.base, "/rpc", json({ endpoint: "Greeter.Hello" }))).status, 400);
    assert.equal((await req(s.base, "/rpc", json({ service: "greeter", endpoint: "Greeter.Hello", request: [1] }))).status, 400);
    assert.equal((await req(s.base, "/rpc", json({ service: "greeter", endpoint: "Greeter.Hello", timeout: -1 }))).status, 400);
    assert.equal((await req(s.base, "/rpc")).status, 405);
    const nf = await req(s.base, "/rpc", json({ service: "greeter", endpoint: "Greeter.Nope" }));
    assert.equal(nf.status, 404);
    assert.match(nf.body.detail!, /Greeter\.Hello/);
  });

  it("honours the /rpc timeout over the gateway's", async () => {
    const r = await req(s.base, "/rpc", json({ service: "greeter", endpoint: "Greeter.Slow", request: { ms: 500 }, timeout: 3000 }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { done: true });
  });

  it("answers GET /health", async () => {
    const r = await req(s.base, "/health");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: "ok" });
    assert.equal(r.headers.get("x-powered-by"), null);
  });

  it("turns a service's MicroError into its status with {id, code, detail, status}", async () => {
    const r = await req(s.base, "/greeter/hello", json({}));
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { id: "greeter.hello", code: 400, detail: "name is required", status: "Bad Request" });
    const t = await req(s.base, "/greeter/teapot", json({}));
    assert.equal(t.status, 418);
    assert.equal(t.body.code, 418);
  });

  it("answers 400 with the fields for a request failing its schema", async () => {
    const r = await req(s.base, "/greeter/say-hello", json({ name: 3 }));
    assert.equal(r.status, 400);
    assert.match(r.body.detail!, /name/);
  });

  it("answers 500 without the stack when a handler crashes, and keeps serving", async () => {
    const r = await req(s.base, "/greeter/crash", json({}));
    assert.equal(r.status, 500);
    assert.equal(r.body.code, 500);
    assert.doesNotMatch(JSON.stringify(r.body), /secret|\/srv\/app|at /);
    assert.equal((await req(s.base, "/greeter/hello", json({ name: "Ada" }))).status, 200);
  });

  it("answers 504 when the call outlives the gateway timeout, and the handler is cancelled", async () => {
    const t0 = Date.now();
    const r = await req(s.base, "/greeter/slow", json({ ms: 5000 }));
    assert.equal(r.status, 504);
    assert.equal(r.body.code, 504);
    assert.ok(Date.now() - t0 < 3000);
    const sig = s.greeter.lastSignal!;
    if (!sig.aborted) await new Promise((resolve) => sig.addEventListener("abort", resolve, { once: true }));
  });

  it("passes through a 408 the service itself answered", async () => {
    const r = await req(s.base, "/greeter/late", json({}));
    assert.equal(r.status, 408);
    assert.equal(r.body["id"], "greeter.late");
  });

  it("answers 413 for a declared body over the limit without reading it", async () => {
    const r = await req(s.base, "/greeter/echo", json({ big: "x".repeat(100 * 1024) }));
    assert.equal(r.status, 413);
    assert.equal(r.body.code, 413);
  });

  it("answers 413 for a chunked body once it passes the limit, without buffering the rest", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(s.base + "/greeter/echo");
      const r = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } });
      r.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on("error", reject);
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        // keep sending until the server answers (never more than 8 MiB)
        while (sent < 8 << 20 && r.write(chunk)) sent += chunk.length;
        if (sent < 8 << 20) r.once("drain", pump);
      };
      r.write('{"big":"');
      pump();
    });
    assert.equal(status, 413);
  });

  it("answers 405 for a method it does not serve, and 405 on OPTIONS without CORS", async () => {
    assert.equal((await req(s.base, "/greeter/hello", { method: "HEAD" })).status, 405);
    const o = await req(s.base, "/greeter/hello", { method: "OPTIONS", headers: { origin: "https://a.example", "access-control-request-method": "POST" } });
    assert.equal(o.status, 405);
    assert.equal(o.headers.get("access-control-allow-origin"), null);
    const g = await req(s.base, "/greeter/hello", { ...json({ name: "A" }), headers: { "content-type": "application/json", origin: "https://a.example" } });
    assert.equal(g.status, 200);
    assert.equal(g.headers.get("access-control-allow-origin"), null);
  });

  it("answers 400 to a streaming endpoint over plain HTTP", async () => {
    const r = await req(s.base, "/greeter/count", json({ to: 2 }));
    assert.equal(r.status, 400);
    assert.match(r.body.detail!, /WebSocket/);
  });
});

describe("gateway: unreachable services", () => {
  let s: Stack;
  before(async () => (s = await startStack({ timeout: 2000 })));
  after(() => s.close());

  it("answers 503 when the service's only node refuses connections", async () => {
    await s.registry.register({
      name: "ghost",
      version: "1.0.0",
      endpoints: [{ name: "Ghost.Boo", request: null, response: null, metadata: { stream: "false" } }],
      nodes: [{ id: "ghost-1", address: "127.0.0.1:1" }],
    });
    const r = await req(s.base, "/ghost/boo", json({}));
    assert.equal(r.status, 503);
    assert.equal(r.body.code, 503);
  });
});

describe("gateway: authorize hook", () => {
  let s: Stack;
  before(
    async () =>
      (s = await startStack({
        metadata: "*",
        authorize: async (r, t) => {
          if (t.kind === "call" && t.endpoint === "Admin.Stats") {
            const h = r.headers.authorization;
            if (!h) throw errors.unauthorized("gateway", "token required");
            if (h !== "Bearer good") throw errors.forbidden("gateway", "not allowed");
            return { id: "ada" };
          }
          return undefined;
        },
      })),
  );
  after(() => s.close());

  it("refuses with the hook's 401/403 and forwards the account id", async () => {
    assert.equal((await req(s.base, "/greeter/admin/stats", json({}))).status, 401);
    assert.equal((await req(s.base, "/greeter/admin/stats", { ...json({}), headers: { "content-type": "application/json", authorization: "Bearer bad" } })).status, 403);
    assert.equal((await req(s.base, "/greeter/admin/stats", { ...json({}), headers: { "content-type": "application/json", authorization: "Bearer good" } })).status, 200);
    await req(s.base, "/greeter/hello", { ...json({ name: "A" }), headers: { "content-type": "application/json", "x-custom": "1", "micro-account-id": "spoof" } });
    assert.equal(s.greeter.lastMetadata["x-custom"], "1");
    assert.equal(s.greeter.lastMetadata["micro-account-id"], undefined);
  });
});

describe("gateway: CORS when configured", () => {
  let s: Stack;
  before(async () => (s = await startStack({ cors: { origins: ["https://app.example"], credentials: true } })));
  after(() => s.close());

  it("answers a preflight from an allowed origin", async () => {
    const r = await fetch(s.base + "/greeter/hello", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(r.headers.get("access-control-allow-methods")!, /POST/);
    assert.equal(r.headers.get("access-control-allow-headers"), "content-type");
    assert.equal(r.headers.get("access-control-allow-credentials"), "true");
  });

  it("labels replies to allowed origins and refuses others", async () => {
    const ok = await req(s.base, "/greeter/hello", { ...json({ name: "A" }), headers: { "content-type": "application/json", origin: "https://app.example" } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    const bad = await req(s.base, "/greeter/hello", { ...json({ name: "A" }), headers: { "content-type": "application/json", origin: "https://evil.example" } });
    assert.equal(bad.status, 403);
    const pre = await fetch(s.base + "/greeter/hello", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    assert.equal(pre.status, 405);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
  });
});

describe("gateway: /openapi.json", () => {
  let s: Stack;
  before(async () => (s = await startStack()));
  after(() => s.close());

  it("describes every registered endpoint as OpenAPI 3.1", async () => {
    const r = await req(s.base, "/openapi.json");
    assert.equal(r.status, 200);
    const doc = r.body as { openapi: string; info: { title: string }; paths: Record<string, Record<string, Record<string, unknown>>>; components: { schemas: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.equal(typeof doc.info.title, "string");
    assert.ok(doc.components.schemas["MicroError"]);
    const hello = doc.paths["/greeter/greeter/say-hello"]!["post"]!;
    assert.equal(hello["operationId"], "greeter.Greeter.SayHello");
    assert.equal(hello["description"], "Says hello properly");
    const body = hello["requestBody"] as { content: Record<string, { schema: Record<string, unknown> }> };
    assert.deepEqual(body.content["application/json"]!.schema, { type: "object", properties: { name: { type: "string" } }, required: ["name"] });
    const rsp = (hello["responses"] as Record<string, { content: Record<string, { schema: unknown }> }>)["200"]!;
    assert.equal((rsp.content["application/json"]!.schema as { type: string }).type, "object");
    const plain = doc.paths["/greeter/greeter/hello"]!["post"]!;
    assert.deepEqual((plain["requestBody"] as { content: Record<string, { schema: unknown }> }).content["application/json"]!.schema, { type: "object" });
    assert.equal(doc.paths["/greeter/greeter/count"]!["post"]!["x-micro-stream"], true);
    assert.equal(plain["x-micro-stream"], undefined);
    assert.ok(doc.paths["/v1/greeter/hello/world"]);
    assert.ok(doc.paths["/greeter/admin/stats"]);
    assert.ok(doc.paths["/rpc"]!["post"]);
    // every path in the document is callable through the gateway as it is written
    const stats = await req(s.base, "/greeter/admin/stats", json({}));
    assert.equal(stats.status, 200);
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) assert.ok(op["responses"], `${p} has responses`);
    }
  });
});

describe("gateway: options", () => {
  it("refuses a missing client or registry and bad numbers at construction", () => {
    assert.throws(() => createGateway({} as never), TypeError);
  });
});
