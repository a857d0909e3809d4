/**
 * The shared transport suite: every implementation, in core or in a plugin, runs it.
 *   runTransportConformance({ name: "tcp", create: () => tcpTransport() })
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { isRetryable, MicroError } from "../errors/errors.js";
import { HEADERS, type Connection, type Listener, type Message, type ServerStream, type StreamHandler, type Transport } from "./transport.js";

export interface TransportConformanceOptions {
  name: string;
  create: () => Transport | Promise<Transport>;
  /** The address to listen on. @default "127.0.0.1:0" */
  address?: string;
  /**
   * Whether `ServerStream.ready()` really waits for a slow peer. An in-process transport
   * that hands messages over without buffering may say false. @default true
   */
  backpressure?: boolean;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with the signal's reason once it aborts (at once if it already has). */
function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true }));
}

function msg(header: Record<string, string>, body: Uint8Array | string = new Uint8Array(0)): Message {
  return { header, body: typeof body === "string" ? Buffer.from(body) : body };
}

function text(m: Message): string {
  return Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString("utf8");
}

function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Passes when the error is the transport's "peer unreachable / gone" failure. */
function isUnavailable(e: unknown): boolean {
  assert.ok(e instanceof MicroError, `expected a MicroError, got ${String(e)}`);
  assert.equal(e.code, 503);
  assert.equal(isRetryable(e), true);
  return true;
}

/** True when the promise is still pending after the microtasks queued so far have run. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true));
  for (let i = 0; i < 3; i++) await Promise.resolve();
  return !settled;
}

export function runTransportConformance(opts: TransportConformanceOptions): void {
  const address = opts.address ?? "127.0.0.1:0";

  /** Listens with `handler` and dials the listener; both are closed after the test. */
  async function setup(t: TestContext, handler: StreamHandler): Promise<{ transport: Transport; listener: Listener; conn: Connection }> {
    const transport = await opts.create();
    const listener = await transport.listen(address, handler);
    t.after(() => listener.close());
    const conn = await transport.dial(listener.address);
    t.after(() => conn.close());
    return { transport, listener, conn };
  }

  const echo: StreamHandler = (s) => s.end({ header: { ...s.request.header, "x-echo": "1" }, body: s.request.body });

  describe(`transport conformance: ${opts.name}`, () => {
    it("round-trips headers and a binary body", async (t) => {
      const { conn } = await setup(t, echo);
      const body = bytes(4096);
      const header = { [HEADERS.service]: "greeter", [HEADERS.endpoint]: "Greeter.Hello", [HEADERS.contentType]: "application/octet-stream", "x-trace": "a b=c" };
      const rsp = await conn.request(msg(header, body));
      for (const [k, v] of Object.entries(header)) assert.equal(rsp.header[k], v, `header ${k}`);
      assert.equal(rsp.header["x-echo"], "1");
      assert.deepEqual(Buffer.from(rsp.body), Buffer.from(body));
    });

    it("round-trips an empty body and a 1 MiB body", async (t) => {
      const { conn } = await setup(t, echo);
      const empty = await conn.request(msg({ "x-k": "empty" }));
      assert.equal(empty.body.byteLength, 0);
      assert.equal(empty.header["x-k"], "empty");
      const big = bytes(1024 * 1024, 7);
      const rsp = await conn.request(msg({ "x-k": "big" }, big));
      assert.equal(rsp.body.byteLength, big.byteLength);
      assert.ok(Buffer.from(rsp.body).equals(Buffer.from(big)));
    });

    it("answers 500 concurrent calls on one connection, each with its own reply", async (t) => {
      const { conn } = await setup(t, (s) => {
        // Reply out of order so a transport that pairs replies by arrival fails.
        const n = Number(s.request.header["x-n"]);
        const reply = () => s.end(msg({ "x-n": String(n) }, `reply ${n}:${text(s.request)}`));
        if (n % 2 === 0) setImmediate(reply);
        else reply();
      });
      const calls = Array.from({ length: 500 }, (_, i) => conn.request(msg({ "x-n": String(i) }, `req ${i}`)));
      const replies = await Promise.all(calls);
      replies.forEach((r, i) => {
        assert.equal(r.header["x-n"], String(i));
        assert.equal(text(r), `reply ${i}:req ${i}`);
      });
    });

    it("streams N messages in order, then ends", async (t) => {
      const n = 100;
      const { conn } = await setup(t, async (s) => {
        for (let i = 0; i < n; i++) {
          s.send(msg({ "x-i": String(i) }, `item ${i}`));
          await s.ready();
        }
        s.end();
      });
      const got: string[] = [];
      for await (const m of conn.stream(msg({ [HEADERS.endpoint]: "Counter.Count" }))) {
        assert.equal(m.header["x-i"], String(got.length));
        got.push(text(m));
      }
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => `item ${i}`));
    });

    it("streams zero messages when the server only ends", async (t) => {
      const { conn } = await setup(t, (s) => s.end());
      const got: Message[] = [];
      for await (const m of conn.stream(msg({}))) got.push(m);
      assert.equal(got.length, 0);
    });

    it("delivers a final message passed to end() after the streamed ones", async (t) => {
      const { conn } = await setup(t, (s) => {
        s.send(msg({}, "a"));
        s.end(msg({ [HEADERS.error]: "1" }, '{"id":"x","code":409,"detail":"d","status":"Conflict"}'));
      });
      const got: Message[] = [];
      for await (const m of conn.stream(msg({}))) got.push(m);
      assert.equal(got.length, 2);
      assert.equal(text(got[0]!), "a");
      assert.equal(got[1]!.header[HEADERS.error], "1");
      assert.equal(MicroError.parse(text(got[1]!)).code, 409);
    });

    for (const how of ["cancel()", "break", "abort signal"] as const) {
      it(`cancelling a stream with ${how} aborts the server stream's signal`, async (t) => {
        const serverAborted = deferred<unknown>();
        const { conn } = await setup(t, (s) => {
          s.send(msg({}, "first"));
          void aborted(s.signal).then(serverAborted.resolve);
        });
        const ctrl = new AbortController();
        const stream = conn.stream(msg({}), { signal: ctrl.signal });
        const it = stream[Symbol.asyncIterator]();
        const first = await it.next();
        assert.equal(first.done, false);
        assert.equal(text(first.value as Message), "first");
        if (how === "cancel()") stream.cancel();
        else if (how === "break") await it.return?.();
        else ctrl.abort(new Error("stop"));
        await serverAborted.promise;
        assert.equal((await it.next()).done, true);
      });
    }

    it("aborting a unary call rejects the caller with the reason and aborts the server's signal", async (t) => {
      const started = deferred<ServerStream>();
      const { conn } = await setup(t, (s) => started.resolve(s));
      const ctrl = new AbortController();
      const call = conn.request(msg({}, "hello"), { signal: ctrl.signal });
      const s = await started.promise;
      const reason = new Error("caller gave up");
      ctrl.abort(reason);
      await assert.rejects(call, (e) => e === reason);
      await aborted(s.signal);
    });

    it("rejects a call whose signal is already aborted without reaching the server", async (t) => {
      let calls = 0;
      const { conn } = await setup(t, (s) => {
        calls++;
        echo(s);
      });
      const reason = new Error("too late");
      await assert.rejects(conn.request(msg({}), { signal: AbortSignal.abort(reason) }), (e) => e === reason);
      await conn.request(msg({})); // a later call on the same connection still works
      assert.equal(calls, 1);
    });

    it("closing the listener rejects in-flight calls with a retryable 503 and aborts their server streams", async (t) => {
      const started: ServerStream[] = [];
      const all = deferred();
      const { listener, conn } = await setup(t, (s) => {
        if (started.push(s) === 3) all.resolve();
      });
      const calls = [0, 1, 2].map(() => conn.request(msg({}, "x")));
      await all.promise;
      const rejected = Promise.all(calls.map((c) => assert.rejects(c, isUnavailable)));
      await listener.close();
      await rejected;
      await Promise.all(started.map((s) => aborted(s.signal)));
    });

    it("a dial to an address nobody listens on rejects with a retryable 503", async () => {
      const transport = await opts.create();
      const listener = await transport.listen(address, echo);
      const gone = listener.address;
      await listener.close();
      await assert.rejects(transport.dial(gone, { timeout: 2000 }), isUnavailable);
    });

    it("a peer that dies mid-stream fails the caller's stream with a retryable 503", async (t) => {
      const started = deferred();
      const { listener, conn } = await setup(t, (s) => {
        s.send(msg({}, "1"));
        s.send(msg({}, "2"));
        started.resolve();
      });
      const it = conn.stream(msg({}))[Symbol.asyncIterator]();
      assert.equal(text((await it.next()).value as Message), "1");
      await started.promise;
      await listener.close();
      await assert.rejects(async () => {
        for (;;) if ((await it.next()).done) return;
      }, isUnavailable);
    });

    it("streams many large messages to a slow consumer, the server waiting on ready()", async (t) => {
      const n = 64;
      const size = 256 * 1024;
      let waited = 0;
      const { conn } = await setup(t, async (s) => {
        for (let i = 0; i < n; i++) {
          if (s.signal.aborted) return;
          s.send(msg({ "x-i": String(i) }, bytes(size, i)));
          const r = s.ready();
          if (await pending(r)) waited++;
          await r;
        }
        s.end();
      });
      let i = 0;
      for await (const m of conn.stream(msg({}))) {
        assert.equal(m.header["x-i"], String(i));
        assert.equal(m.body.byteLength, size);
        assert.equal(m.body[size - 1], bytes(size, i)[size - 1]);
        i++;
        // A slow consumer: yield to the event loop between messages.
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(i, n);
      if (opts.backpressure !== false) assert.ok(waited > 0, "ready() never waited for the slow consumer");
    });
  });
}
