// The API gateway over WebSocket: streaming endpoints, cancellation, unary calls, events.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { req, startStack, type Stack } from "./fixtures/gateway-stack.js";

interface Session {
  ws: WebSocket;
  messages: unknown[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` messages arrived. */
  until(n: number): Promise<void>;
}

function open(url: string): Promise<Session> {
  const ws = new WebSocket(url);
  const messages: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  ws.on("message", (d) => {
    messages.push(JSON.parse(String(d)));
    for (const w of [...waiters]) if (messages.length >= w.n) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.once("open", () =>
      resolve({ ws, messages, closed, until: (n) => (messages.length >= n ? Promise.resolve() : new Promise((r) => waiters.push({ n, resolve: r }))) }),
    );
    ws.once("unexpected-response", (_r, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once("error", reject);
  });
}

describe("gateway: WebSocket", () => {
  let s: Stack;
  let ws: string;
  before(async () => {
    s = await startStack({ timeout: 2000, bodyTimeout: 500 });
    ws = s.base.replace("http:", "ws:");
  });
  after(() => s.close());

  it("streams one message per item and closes with 1000 at the end", async () => {
    const c = await open(`${ws}/greeter/count`);
    c.ws.send(JSON.stringify({ to: 4 }));
    const end = await c.closed;
    assert.equal(end.code, 1000);
    assert.deepEqual(c.messages, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it("streams on mapped paths: /api/greeter/greeter/count, /v1/greeter/count", async () => {
    for (const p of ["/api/greeter/greeter/count", "/v1/greeter/count"]) {
      const c = await open(ws + p);
      c.ws.send(JSON.stringify({ to: 2 }));
      assert.equal((await c.closed).code, 1000, p);
      assert.deepEqual(c.messages, [{ n: 1 }, { n: 2 }], p);
    }
  });

  it("cancels the stream on the service when the client closes", async () => {
    const c = await open(`${ws}/greeter/count`);
    c.ws.send(JSON.stringify({ to: 1_000_000, delay: 5 }));
    await c.until(3);
    const sig = s.greeter.lastSignal!;
    assert.equal(sig.aborted, false);
    c.ws.close(1000);
    if (!sig.aborted) await once(sig, "abort");
    assert.equal(sig.aborted, true);
  });

  it("sends a failing stream's error, then closes with 4000 + code", async () => {
    const c = await open(`${ws}/greeter/fail`);
    c.ws.send("{}");
    const end = await c.closed;
    assert.equal(end.code, 4403);
    assert.deepEqual(c.messages[0], { n: 1 });
    assert.equal((c.messages[1] as { code: number }).code, 403);
  });

  it("answers a unary endpoint once and closes", async () => {
    const c = await open(`${ws}/greeter/hello`);
    c.ws.send(JSON.stringify({ name: "Ada" }));
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.messages, [{ msg: "Hello Ada" }]);
    const e = await open(`${ws}/greeter/hello`);
    e.ws.send("{}");
    assert.equal((await e.closed).code, 4400);
    assert.equal((e.messages[0] as { code: number }).code, 400);
  });

  it("refuses malformed first messages with 4400 and silent clients with 4408", async () => {
    const c = await open(`${ws}/greeter/count`);
    c.ws.send("{nope");
    assert.equal((await c.closed).code, 4400);
    const quiet = await open(`${ws}/greeter/count`);
    assert.equal((await quiet.closed).code, 4408);
  });

  it("refuses an upgrade to an unknown service with a plain 404", async () => {
    await assert.rejects(open(`${ws}/nosuch/count`), (e: { status?: number }) => e.status === 404);
    await assert.rejects(open(`${ws}/greeter/%00`), (e: { status?: number }) => e.status === 400);
  });

  it("publishes with POST /events/{topic} and consumes on a WebSocket", async () => {
    const c = await open(`${ws}/events/user.created?group=g1&offset=earliest`);
    const p = await req(s.base, "/events/user.created", { method: "POST", headers: { "content-type": "application/json", "x-request-id": "r9" }, body: JSON.stringify({ id: "u1" }) });
    assert.equal(p.status, 202);
    assert.equal(typeof p.body["id"], "string");
    await c.until(1);
    const ev = c.messages[0] as { id: string; topic: string; payload: unknown; timestamp: string; metadata: Record<string, string> };
    assert.equal(ev.id, p.body["id"]);
    assert.equal(ev.topic, "user.created");
    assert.deepEqual(ev.payload, { id: "u1" });
    assert.ok(!Number.isNaN(Date.parse(ev.timestamp)));
    assert.equal(ev.metadata["x-request-id"], "r9");
    c.ws.close();
    await c.closed;
    // acked after send: the group resumes after it
    await req(s.base, "/events/user.created", { method: "POST", headers: { "content-type": "application/json" }, body: '{"id":"u2"}' });
    const again = await open(`${ws}/events/user.created?group=g1&offset=earliest`);
    await again.until(1);
    assert.deepEqual((again.messages[0] as { payload: unknown }).payload, { id: "u2" });
    again.ws.close();
  });

  it("refuses bad event requests", async () => {
    assert.equal((await req(s.base, "/events/t", { method: "POST", body: "{bad" })).status, 400);
    assert.equal((await req(s.base, "/events/t", { method: "POST", body: "" })).status, 400);
    assert.equal((await req(s.base, "/events/t")).status, 405);
    await assert.rejects(open(`${ws}/events/t?offset=sideways`), (e: { status?: number }) => e.status === 400);
  });
});
