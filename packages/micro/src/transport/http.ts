/**
 * The HTTP transport: one POST per call, so `curl` can call a service directly:
 *
 *   curl -X POST -H 'Micro-Service: greeter' -H 'Micro-Endpoint: Greeter.Hello' \
 *        -H 'Content-Type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:PORT/
 *
 * Message headers travel as HTTP headers. A unary reply is a plain response; an error reply
 * (header `micro-error`) takes its MicroError code as HTTP status. The server learns that a
 * call streams when the handler first calls `send()`: the reply then carries
 * `Micro-Stream: true` and a body of frames in the TCP transport's format (frame.ts, stream
 * id 0), the last one flagged END, so a cut-off stream is never mistaken for a complete one.
 */
import http from "node:http";
import net from "node:net";
import { MicroError, badRequest, methodNotAllowed, payloadTooLarge } from "../errors/errors.js";
import type { Logger } from "../logger/logger.js";
import { silentLogger } from "../logger/logger.js";
import { AsyncQueue } from "../util/watcher.js";
import { encodeFrame, FLAGS, FrameDecoder } from "./frame.js";
import {
  HEADERS,
  joinHostPort,
  splitHostPort,
  transportError,
  combinedSignal,
  type CallTransportOptions,
  type ClientStream,
  type Connection,
  type DialOptions,
  type Listener,
  type Message,
  type ServerStream,
  type StreamHandler,
  type Transport,
} from "./transport.js";

export interface HttpTransportOptions {
  /**
   * Largest request body a server accepts (a bigger one gets 413), and largest reply body or
   * stream frame a client accepts, in bytes. @default 16 MiB
   */
  maxBodyBytes?: number;
  /** Sockets a connection keeps open to its address at once; further calls queue. @default 64 */
  maxSockets?: number;
  logger?: Logger;
}

type Settings = Required<Omit<HttpTransportOptions, "logger">> & { logger: Logger };

const DEFAULTS = { maxBodyBytes: 16 * 1024 * 1024, maxSockets: 64 };
/** The HTTP Content-Type of a streamed reply; each message carries its own in its frame. */
export const STREAM_CONTENT_TYPE = "application/x-micro-stream";
/** Headers that describe one HTTP hop, not the message: never copied between the two. */
const HOP = new Set(["connection", "keep-alive", "host", "content-length", "transfer-encoding", "te", "trailer", "upgrade", "expect", "proxy-connection", "date"]);
// A client pauses a streamed reply while this many messages wait unread, so a slow consumer
// pushes back on the server (its ready() waits) instead of buffering without bound.
const HIGH_WATER = 16;
const LOW_WATER = 4;
const EMPTY = new Uint8Array(0);

function messageHeader(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP.has(k) || k === HEADERS.stream) continue;
    out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

/** The message's headers as HTTP headers; `bad` gets the names HTTP cannot carry. */
function httpHeaders(h: Record<string, string>, bad: (name: string) => void): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k]!;
    if (HOP.has(k)) continue;
    try {
      http.validateHeaderName(k);
      http.validateHeaderValue(k, v);
      out[k] = v;
    } catch {
      bad(k);
    }
  }
  return out;
}

/** The HTTP status of an error reply: the JSON's code when it is an HTTP error code. */
function errorStatus(body: Uint8Array): number {
  try {
    const code: unknown = (JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8")) as { code?: unknown }).code;
    if (typeof code === "number" && Number.isInteger(code) && code >= 400 && code <= 599) return code;
  } catch {
    // not JSON: a generic failure
  }
  return 500;
}

function sendError(res: http.ServerResponse, err: MicroError, extra: http.OutgoingHttpHeaders = {}): void {
  const body = Buffer.from(JSON.stringify(err.toJSON()));
  res.writeHead(err.code, { ...extra, [HEADERS.error]: "1", "content-type": "application/json", "content-length": body.length });
  res.end(body);
}

class HttpServerStream implements ServerStream {
  private readonly ctrl = new AbortController();
  private streaming = false;
  private ended = false;
  constructor(
    readonly request: Message,
    readonly remote: string,
    private readonly res: http.ServerResponse,
    private readonly logger: Logger,
  ) {
    // Fires when the response is done, or when the socket dies first (client cancel, close).
    res.on("close", () => this.abort());
  }
  get signal(): AbortSignal {
    return this.ctrl.signal;
  }
  private abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.ctrl.abort(transportError(`call from ${this.remote} cancelled or its connection closed`));
  }
  private startStream(): void {
    this.streaming = true;
    this.res.writeHead(200, { [HEADERS.stream]: "true", "content-type": STREAM_CONTENT_TYPE });
  }
  send(msg: Message): void {
    if (this.ended) return;
    if (!this.streaming) this.startStream();
    this.res.write(encodeFrame(0, FLAGS.message, msg.header, msg.body));
  }
  end(msg?: Message): void {
    if (this.ended) return;
    this.ended = true;
    const res = this.res;
    if (res.destroyed) return;
    if (msg && !this.streaming) {
      const headers = httpHeaders(msg.header, (name) => this.logger.warn("reply header dropped: not a valid HTTP header", { name }));
      headers["content-length"] = msg.body.byteLength;
      res.writeHead(msg.header[HEADERS.error] !== undefined ? errorStatus(msg.body) : 200, headers);
      res.end(msg.body);
      return;
    }
    // end() without a message and no send(): a stream of zero messages.
    if (!this.streaming) this.startStream();
    res.end(encodeFrame(0, msg ? FLAGS.message | FLAGS.end : FLAGS.end, msg?.header, msg?.body));
  }
  ready(): Promise<void> {
    const res = this.res;
    if (!res.writableNeedDrain || res.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.on("drain", done);
      res.on("close", done);
    });
  }
}

function tooLarge(max: number): MicroError {
  return payloadTooLarge("transport", `request body exceeds ${max} bytes`);
}

function serve(req: http.IncomingMessage, res: http.ServerResponse, handler: StreamHandler, s: Settings): void {
  res.sendDate = false;
  req.on("error", () => {});
  // Unread request bytes are drained (resume), so the keep-alive connection can carry the next call.
  if (req.method !== "POST") {
    req.resume();
    return sendError(res, methodNotAllowed("transport", `use POST, not ${req.method ?? "?"}`), { allow: "POST" });
  }
  const max = s.maxBodyBytes;
  if (Number(req.headers["content-length"] ?? 0) > max) {
    req.resume();
    return sendError(res, tooLarge(max));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size <= max) return void chunks.push(c);
    over = true;
    chunks.length = 0;
    sendError(res, tooLarge(max));
  });
  req.on("end", () => {
    if (over) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    const remote = joinHostPort(req.socket.remoteAddress ?? "", req.socket.remotePort ?? 0);
    handler(new HttpServerStream({ header: messageHeader(req.headers), body }, remote, res, s.logger));
  });
}

/** A reply as a message; a non-2xx without `Micro-Error` (a proxy, another server) becomes an error reply. */
function replyMessage(res: http.IncomingMessage, body: Uint8Array): Message {
  const header = messageHeader(res.headers);
  const status = res.statusCode ?? 500;
  if ((status >= 200 && status < 300) || header[HEADERS.error] !== undefined) return { header, body };
  const detail = Buffer.from(body).toString("utf8") || (res.statusMessage ?? "");
  const e = new MicroError("transport", detail, status >= 400 && status <= 599 ? status : 502);
  return { header: { [HEADERS.error]: "1", [HEADERS.contentType]: "application/json" }, body: Buffer.from(JSON.stringify(e.toJSON())) };
}

/** Reads a plain reply body up to `max` bytes; `done` is called exactly once. */
function readBody(res: http.IncomingMessage, max: number, done: (err: unknown, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const finish = (err: unknown, body?: Buffer) => {
    if (settled) return;
    settled = true;
    done(err, body);
  };
  res.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= max) return void chunks.push(c);
    res.destroy();
    finish(new MicroError("transport", `reply body exceeds ${max} bytes`, 502));
  });
  res.on("end", () => finish(undefined, Buffer.concat(chunks, size)));
  res.on("error", () => {});
  res.on("close", () => finish(transportError("connection closed while reading the reply")));
}

/** Reads a streamed reply; `done` is called exactly once: after the END frame, or with the failure. */
function readFrames(res: http.IncomingMessage, max: number, onMessage: (m: Message) => void, done: (err?: unknown) => void): void {
  let settled = false;
  const finish = (err?: unknown) => {
    if (settled) return;
    settled = true;
    done(err);
  };
  const decoder = new FrameDecoder(max, (f) => {
    if (settled) return;
    if (f.flags & FLAGS.message) onMessage({ header: f.header, body: f.body });
    if (f.flags & FLAGS.end) finish();
  });
  res.on("data", (c: Buffer) => {
    try {
      decoder.push(c);
    } catch (e) {
      res.destroy();
      finish(transportError("malformed stream frame", e));
    }
  });
  res.on("error", () => {});
  res.on("close", () => finish(transportError("stream cut off before its end")));
}

interface Call {
  cancel(): void;
}

class HttpConnection implements Connection {
  closed = false;
  private readonly agent: http.Agent;
  private readonly live = new Set<http.ClientRequest>();

  constructor(
    readonly address: string,
    private readonly host: string,
    private readonly port: number,
    private readonly s: Settings,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: s.maxSockets });
  }

  /** POSTs the message. Retries once when a pooled socket turns out to be closed by the server. */
  private post(msg: Message, onResponse: (res: http.IncomingMessage) => void, onError: (e: unknown) => void): Call {
    let bad: string | undefined;
    const headers = httpHeaders(msg.header, (name) => (bad ??= name));
    if (bad !== undefined) {
      onError(badRequest("transport", `header ${bad} cannot travel over HTTP`));
      return { cancel() {} };
    }
    headers["content-length"] = msg.body.byteLength;
    let req: http.ClientRequest | undefined;
    let stopped = false;
    const send = (mayRetry: boolean) => {
      const r = (req = http.request({ host: this.host, port: this.port, method: "POST", path: "/", agent: this.agent, headers }));
      let responded = false;
      this.live.add(r);
      r.on("close", () => this.live.delete(r));
      r.on("response", (res) => {
        responded = true;
        if (!stopped) onResponse(res);
      });
      r.on("error", (e: NodeJS.ErrnoException) => {
        if (stopped || responded) return; // after the response, the response reports the failure
        if (mayRetry && !this.closed && r.reusedSocket && e.code === "ECONNRESET") return send(false);
        stopped = true;
        onError(transportError(`call to ${this.address}: ${this.closed ? "connection closed" : (e.code ?? e.message)}`, e));
      });
      r.end(msg.body);
    };
    send(true);
    return {
      cancel: () => {
        stopped = true;
        req?.destroy();
      },
    };
  }

  request(msg: Message, o?: CallTransportOptions): Promise<Message> {
    if (o?.deadline !== undefined) {
      const c = combinedSignal(o);
      return this.request(msg, c.signal ? { signal: c.signal } : {}).finally(c.dispose);
    }
    if (this.closed) return Promise.reject(transportError(`connection to ${this.address} closed`));
    const signal = o?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Message>((resolve, reject) => {
      let settled = false;
      let call: Call | undefined;
      const settle = (err: unknown, m?: Message) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        if (err !== undefined) reject(err);
        else resolve(m!);
      };
      const onAbort = () => {
        call?.cancel();
        settle(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      call = this.post(
        msg,
        (res) => {
          if (res.headers[HEADERS.stream] === undefined) {
            return readBody(res, this.s.maxBodyBytes, (err, body) => settle(err, body && replyMessage(res, body)));
          }
          // A unary call answered with a stream: take the first message and stop the rest.
          readFrames(
            res,
            this.s.maxBodyBytes,
            (m) => {
              settle(undefined, m);
              call?.cancel();
            },
            (err) => settle(err, { header: {}, body: EMPTY }),
          );
        },
        (e) => settle(e),
      );
    });
  }

  stream(msg: Message, o?: CallTransportOptions): ClientStream {
    let call: Call | undefined;
    let res: http.IncomingMessage | undefined;
    let done = false;
    // Ending the queue early (cancel, break, abort) cancels the call; after the end it is a no-op.
    const queue = new AsyncQueue<Message>(() => {
      o?.signal?.removeEventListener("abort", cancel);
      if (done) return;
      done = true;
      call?.cancel();
    });
    const finish = (err?: unknown) => {
      done = true;
      queue.end(err);
    };
    const push = (m: Message) => {
      queue.push(m);
      if (queue.size >= HIGH_WATER) res?.pause();
    };
    const cancel = () => queue.end();
    if (this.closed) finish(transportError(`connection to ${this.address} closed`));
    else if (o?.signal?.aborted) finish();
    else {
      o?.signal?.addEventListener("abort", cancel, { once: true });
      call = this.post(
        msg,
        (r) => {
          res = r;
          if (r.headers[HEADERS.stream] !== undefined) return readFrames(r, this.s.maxBodyBytes, push, finish);
          readBody(r, this.s.maxBodyBytes, (err, body) => {
            if (body) push(replyMessage(r, body));
            finish(err);
          });
        },
        finish,
      );
    }
    const iterator: AsyncIterator<Message> = {
      next: () => {
        const p = queue.next();
        if (res?.isPaused() && queue.size <= LOW_WATER) res.resume();
        return p;
      },
      return: () => {
        queue.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return { cancel, [Symbol.asyncIterator]: () => iterator };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.live) r.destroy();
    this.agent.destroy();
  }
}

/** Checks that something listens at the address, so dial fails like the TCP transport's. */
function probe(host: string, port: number, address: string, o: DialOptions): Promise<void> {
  const timeout = o.timeout ?? 5000;
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(o.signal.reason);
    const sock = net.connect({ host, port });
    const finish = (err?: unknown) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      sock.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(() => finish(transportError(`dial ${address}: timed out after ${timeout} ms`)), timeout);
    const onAbort = () => finish(o.signal!.reason);
    o.signal?.addEventListener("abort", onAbort, { once: true });
    sock.once("error", (e: NodeJS.ErrnoException) => finish(transportError(`dial ${address}: ${e.code ?? e.message}`, e)));
    sock.once("connect", () => finish());
  });
}

export class HttpTransport implements Transport {
  readonly name = "http";
  private readonly s: Settings;

  constructor(opts: HttpTransportOptions = {}) {
    const s: Settings = {
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      maxSockets: opts.maxSockets ?? DEFAULTS.maxSockets,
      logger: opts.logger ?? silentLogger(),
    };
    for (const k of ["maxBodyBytes", "maxSockets"] as const) {
      if (!Number.isInteger(s[k]) || s[k] < 1) throw new TypeError(`httpTransport: ${k} must be a positive integer, got ${s[k]}`);
    }
    this.s = Object.freeze(s);
  }

  listen(address: string, handler: StreamHandler): Promise<Listener> {
    const { host, port } = splitHostPort(address);
    const server = http.createServer((req, res) => serve(req, res, handler, this.s));
    // curl sends `Expect: 100-continue` for large bodies: refuse an oversized one before it is sent.
    server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (Number(req.headers["content-length"] ?? 0) > this.s.maxBodyBytes) {
        res.sendDate = false;
        return sendError(res, tooLarge(this.s.maxBodyBytes), { connection: "close" });
      }
      res.writeContinue();
      serve(req, res, handler, this.s);
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const a = server.address() as net.AddressInfo;
        resolve({
          address: joinHostPort(host, a.port),
          close: () =>
            new Promise<void>((res) => {
              server.close(() => res());
              server.closeAllConnections();
            }),
        });
      });
    });
  }

  async dial(address: string, o: DialOptions = {}): Promise<Connection> {
    const { host, port } = splitHostPort(address);
    await probe(host, port, address, o);
    return new HttpConnection(address, host, port, this.s);
  }
}

export function httpTransport(opts: HttpTransportOptions = {}): HttpTransport {
  return new HttpTransport(opts);
}
