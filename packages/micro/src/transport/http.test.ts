import assert from "node:assert/strict";
import http from "node:http";
import { describe, it, type TestContext } from "node:test";
import { MicroError } from "../errors/errors.js";
import { RpcServer } from "../server/rpc.js";
import { runTransportConformance } from "./conformance.js";
import { FLAGS, FrameDecoder, type Frame } from "./frame.js";
import { httpTransport, STREAM_CONTENT_TYPE, type HttpTransportOptions } from "./http.js";
import { HEADERS, type Message, type StreamHandler } from "./transport.js";

runTransportConformance({ name: "http", create: () => httpTransport() });

async function listen(t: TestContext, handler: StreamHandler, o: HttpTransportOptions = {}): Promise<string> {
  const l = await httpTransport(o).listen("127.0.0.1:0", handler);
  t.after(() => l.close());
  return `http://${l.address}/`;
}

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reusedSocket: boolean;
}

/** A plain node:http POST, as any HTTP client would send it. */
function post(url: string, body: Buffer, o: { headers?: http.OutgoingHttpHeaders; agent?: http.Agent; chunked?: boolean } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers = { ...o.headers, ...(o.chunked ? {} : { "content-length": body.length }) };
    const req = http.request(url, { method: "POST", headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }));
    });
    req.on("error", reject);
    if (o.chunked) {
      // Several writes without a length: the body arrives chunked.
      for (let i = 0; i < body.length; i += 256) req.write(body.subarray(i, i + 256));
      req.end();
    } else req.end(body);
  });
}

class Greeter {
  async hello(req: { name: string }): Promise<{ msg: string }> {
    return { msg: `Hello ${req.name}` };
  }
  async *count(req: { to: number }): AsyncGenerator<{ n: number }> {
    for (let n = 1; n <= req.to; n++) yield { n };
  }
}

const errorReply = (code: number): Message => ({
  header: { [HEADERS.error]: "1", [HEADERS.contentType]: "application/json" },
  body: Buffer.from(JSON.stringify({ id: "greeter", code, detail: "no such thing", status: "" })),
});

describe("http transport", () => {
  it("answers a plain HTTP POST with Micro-* headers, as curl sends it", async (t) => {
    const server = new RpcServer({ name: "greeter", transport: httpTransport() });
    server.handle(new Greeter());
    const address = await server.start();
    t.after(() => server.stop());
    const rsp = await fetch(`http://${address}/`, {
      method: "POST",
      headers: { "Micro-Service": "greeter", "Micro-Endpoint": "Greeter.Hello", "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Ada" }),
    });
    assert.equal(rsp.status, 200);
    assert.match(rsp.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await rsp.json(), { msg: "Hello Ada" });
  });

  it("streams a reply as Micro-Stream frames in the TCP frame format, ended by an END frame", async (t) => {
    const server = new RpcServer({ name: "greeter", transport: httpTransport() });
    server.handle(new Greeter());
    const address = await server.start();
    t.after(() => server.stop());
    const rsp = await post(`http://${address}/`, Buffer.from('{"to":3}'), {
      headers: { "Micro-Service": "greeter", "Micro-Endpoint": "Greeter.Count", "Content-Type": "application/json" },
    });
    assert.equal(rsp.status, 200);
    assert.equal(rsp.headers["micro-stream"], "true");
    assert.equal(rsp.headers["content-type"], STREAM_CONTENT_TYPE);
    const frames: Frame[] = [];
    new FrameDecoder(1 << 20, (f) => frames.push(f)).push(rsp.body);
    assert.deepEqual(
      frames.filter((f) => f.flags & FLAGS.message).map((f) => JSON.parse(Buffer.from(f.body).toString()) as unknown),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.equal(frames.at(-1)!.flags & FLAGS.end, FLAGS.end);
  });

  it("gives the handler the request's headers lower-cased, without hop-by-hop headers", async (t) => {
    let seen: Record<string, string> = {};
    const url = await listen(t, (s) => {
      seen = s.request.header;
      s.end({ header: {}, body: new Uint8Array() });
    });
    await post(url, Buffer.from("{}"), { headers: { "Micro-Endpoint": "Greeter.Hello", "X-Trace-Id": "t1", Connection: "keep-alive" } });
    assert.equal(seen[HEADERS.endpoint], "Greeter.Hello");
    assert.equal(seen["x-trace-id"], "t1");
    for (const hop of ["host", "connection", "content-length", "transfer-encoding"]) assert.equal(seen[hop], undefined, hop);
  });

  it("maps an error reply to its code as HTTP status with the Micro-Error header", async (t) => {
    const url = await listen(t, (s) => s.end(errorReply(Number(s.request.header["x-code"]))));
    for (const code of [404, 409, 503]) {
      const rsp = await post(url, Buffer.from("{}"), { headers: { "x-code": String(code) } });
      assert.equal(rsp.status, code);
      assert.equal(rsp.headers["micro-error"], "1");
      assert.equal(MicroError.parse(rsp.body.toString()).code, code);
    }
  });

  it("answers 500 for an error reply whose body is not an error JSON", async (t) => {
    const url = await listen(t, (s) => s.end({ header: { [HEADERS.error]: "1" }, body: Buffer.from("boom") }));
    const rsp = await post(url, Buffer.from("{}"));
    assert.equal(rsp.status, 500);
    assert.equal(rsp.headers["micro-error"], "1");
  });

  it("hands a client the error reply with its code", async (t) => {
    const url = await listen(t, (s) => s.end(errorReply(404)));
    const conn = await httpTransport().dial(new URL(url).host);
    t.after(() => conn.close());
    const rsp = await conn.request({ header: {}, body: new Uint8Array() });
    assert.equal(rsp.header[HEADERS.error], "1");
    assert.equal(MicroError.parse(Buffer.from(rsp.body).toString()).code, 404);
  });

  it("turns a non-2xx reply from a server that is not Micro into an error reply with that code", async (t) => {
    const plain = http.createServer((_req, res) => res.writeHead(502, { "content-type": "text/plain" }).end("upstream down"));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    t.after(() => new Promise<void>((r) => plain.close(() => r())));
    const conn = await httpTransport().dial(`127.0.0.1:${(plain.address() as { port: number }).port}`);
    t.after(() => conn.close());
    const rsp = await conn.request({ header: {}, body: new Uint8Array() });
    assert.equal(rsp.header[HEADERS.error], "1");
    assert.equal(MicroError.parse(Buffer.from(rsp.body).toString()).code, 502);
  });

  it("answers 405 to a method other than POST", async (t) => {
    const url = await listen(t, (s) => s.end());
    const rsp = await fetch(url);
    assert.equal(rsp.status, 405);
    assert.equal(((await rsp.json()) as { code: number }).code, 405);
  });

  it("refuses an oversized body with 413 and keeps the connection usable for the next call", async (t) => {
    let calls = 0;
    const url = await listen(
      t,
      (s) => {
        calls++;
        s.end({ header: {}, body: s.request.body });
      },
      { maxBodyBytes: 1024 },
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (const chunked of [false, true]) {
      const big = await post(url, Buffer.alloc(4096, 1), { agent, chunked });
      assert.equal(big.status, 413, `chunked=${chunked}`);
      assert.equal(big.headers["micro-error"], "1");
      assert.equal(MicroError.parse(big.body.toString()).code, 413);
      const ok = await post(url, Buffer.from("small"), { agent });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), "small");
      assert.equal(ok.reusedSocket, true, "the 413 closed the keep-alive connection");
    }
    assert.equal(calls, 2);
  });

  it("refuses an oversized body announced with Expect: 100-continue before it is sent", async (t) => {
    let calls = 0;
    const url = await listen(t, (s) => (calls++, s.end()), { maxBodyBytes: 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, { method: "POST", agent: false, headers: { "content-length": 4096, expect: "100-continue" } });
      req.on("continue", () => reject(new Error("the server asked for the oversized body")));
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    assert.equal(status, 413);
    assert.equal(calls, 0);
  });

  it("a client gets the 413 as an error reply", async (t) => {
    const url = await listen(t, (s) => s.end(), { maxBodyBytes: 1024 });
    const conn = await httpTransport().dial(new URL(url).host);
    t.after(() => conn.close());
    const rsp = await conn.request({ header: {}, body: new Uint8Array(2048) });
    assert.equal(MicroError.parse(Buffer.from(rsp.body).toString()).code, 413);
  });

  it("rejects a call whose header cannot travel over HTTP with a non-retryable 400", async (t) => {
    const url = await listen(t, (s) => s.end());
    const conn = await httpTransport().dial(new URL(url).host);
    t.after(() => conn.close());
    await assert.rejects(conn.request({ header: { "x-bad": "a\r\nb" }, body: new Uint8Array() }), (e) => {
      assert.ok(e instanceof MicroError);
      assert.equal(e.code, 400);
      assert.equal(e.retryable, false);
      return true;
    });
  });

  it("validates its options", () => {
    assert.throws(() => httpTransport({ maxBodyBytes: 0 }), TypeError);
    assert.throws(() => httpTransport({ maxSockets: 1.5 }), TypeError);
  });
});
