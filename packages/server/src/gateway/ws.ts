/**
 * WebSockets on the gateway's paths. On a service path the client sends the request as the
 * first message; a streaming endpoint answers one message per item, a unary one once; the
 * gateway then closes with 1000. A failure is sent as the error JSON, then the socket is
 * closed with 4000 + its code (4404, 4504, ...). A client that closes cancels the call.
 * On `/events/{topic}` every event is one message, acknowledged once sent.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { errors, MicroError, type ConsumeOptions, type Event } from "@micro-ts/micro";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Shared } from "./gateway.js";
import { rawReply } from "./reply.js";
import type { GatewayAccount } from "./options.js";
import type { Target } from "./route.js";

const GROUP = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Stop sending while this much is queued on the socket (a slow reader). */
const HIGH_WATER = 1 << 20;

type Plan =
  | { kind: "call"; target: Target; account: GatewayAccount | undefined }
  | { kind: "consume"; topic: string; opts: ConsumeOptions; account: GatewayAccount | undefined };

export class WsGateway {
  private readonly wss: WebSocketServer;

  constructor(private readonly s: Shared) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: s.o.maxBodyBytes, clientTracking: true });
  }

  /** The node:http `upgrade` listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    this.plan(req).then(
      (plan) => {
        if (socket.destroyed) return;
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          ws.on("error", () => ws.terminate());
          if (plan.kind === "call") void this.call(req, ws, plan.target, plan.account);
          else void this.consume(ws, plan.topic, plan.opts);
        });
      },
      (e: unknown) => rawReply(socket, MicroError.from(e, "gateway")),
    );
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, "gateway closing");
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const ws of this.wss.clients) ws.terminate();
  }

  /** Where the upgrade leads, decided before the handshake (so refusals are plain HTTP). */
  private async plan(req: IncomingMessage): Promise<Plan> {
    if (req.method !== "GET") throw errors.methodNotAllowed("gateway", "WebSocket upgrades use GET");
    if (this.s.cors && !this.s.cors.allows(req.headers.origin)) throw errors.forbidden("gateway", "origin not allowed");
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q === -1 ? url : url.slice(0, q);
    const parts = this.s.parts(pathname);
    if (parts.length === 2 && parts[0] === "events") {
      if (!this.s.o.events) throw errors.notImplemented("gateway", "events are not enabled on this gateway");
      const topic = parts[1]!;
      const opts = consumeOptions(new URLSearchParams(q === -1 ? "" : url.slice(q + 1)));
      const account = await this.s.authorize(req, { kind: "consume", topic });
      return { kind: "consume", topic, opts, account };
    }
    if (parts.length === 1 && (parts[0] === "rpc" || parts[0] === "health" || parts[0] === "openapi.json")) {
      throw errors.badRequest("gateway", `/${parts[0]} does not take WebSockets`);
    }
    const target = this.s.router.cached(pathname) ?? (await this.s.router.resolve(pathname, parts));
    const account = await this.s.authorize(req, { kind: "call", service: target.service, endpoint: target.endpoint, stream: target.stream });
    return { kind: "call", target, account };
  }

  private async call(req: IncomingMessage, ws: WebSocket, t: Target, account: GatewayAccount | undefined): Promise<void> {
    const ctrl = new AbortController();
    ws.once("close", () => ctrl.abort());
    try {
      const request = await firstMessage(ws, this.s.o.bodyTimeout);
      if (request === undefined) return;
      const md = this.s.metadata(req, account);
      if (!t.stream) {
        const started = Date.now();
        const timeout = this.s.o.timeout;
        let rsp: unknown;
        try {
          rsp = await this.s.o.client.call(t.service, t.endpoint, request, { timeout, signal: ctrl.signal, ...(md ? { metadata: md } : {}) });
        } catch (e) {
          throw this.s.callError(e, t, started, timeout);
        }
        await send(ws, rsp === undefined ? "{}" : JSON.stringify(rsp));
        ws.close(1000);
        return;
      }
      const stream = this.s.o.client.stream(t.service, t.endpoint, request, { signal: ctrl.signal, ...(md ? { metadata: md } : {}) });
      ws.once("close", () => stream.cancel());
      for await (const item of stream) {
        if (ws.readyState !== WebSocket.OPEN) break;
        await send(ws, item === undefined ? "{}" : JSON.stringify(item));
      }
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    } catch (e) {
      closeWithError(ws, MicroError.from(e, "gateway"), this.s);
    }
  }

  private async consume(ws: WebSocket, topic: string, opts: ConsumeOptions): Promise<void> {
    const events = this.s.o.events!;
    let consumer: ReturnType<typeof events.consume> | undefined;
    const stop = () => void consumer?.stop().catch(() => {});
    ws.once("close", stop);
    // The consumer is set up before messages flow; any incoming message is ignored.
    ws.on("message", () => {});
    try {
      consumer = events.consume(topic, { ...opts, autoAck: false });
      if (ws.readyState !== WebSocket.OPEN) return stop();
      for await (const ev of consumer) {
        if (ws.readyState !== WebSocket.OPEN) break;
        await send(ws, JSON.stringify(eventJSON(ev)));
        await ev.ack();
      }
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    } catch (e) {
      closeWithError(ws, MicroError.from(e, "gateway"), this.s);
    } finally {
      stop();
    }
  }
}

function consumeOptions(q: URLSearchParams): ConsumeOptions {
  const o: ConsumeOptions = {};
  const group = q.get("group");
  if (group !== null) {
    if (!GROUP.test(group)) throw errors.badRequest("gateway", "group: letters, digits and _ . : - only");
    o.group = group;
  }
  const offset = q.get("offset");
  if (offset !== null) {
    if (offset === "earliest" || offset === "latest") o.offset = offset;
    else if (/^\d{1,15}$/.test(offset)) o.offset = Number(offset);
    else throw errors.badRequest("gateway", "offset: earliest, latest or a number");
  }
  return o;
}

function eventJSON(ev: Event): Record<string, unknown> {
  const bytes = ev.payload instanceof Uint8Array;
  return {
    id: ev.id,
    topic: ev.topic,
    payload: bytes ? Buffer.from(ev.payload as Uint8Array).toString("base64") : ev.payload,
    ...(bytes ? { encoding: "base64" } : {}),
    timestamp: ev.timestamp.toISOString(),
    metadata: ev.metadata,
    sequence: ev.sequence,
  };
}

/** The first message as a JSON object; undefined when the socket closed first. Rejects on timeout or bad JSON. */
function firstMessage(ws: WebSocket, timeout: number): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      ws.off("message", onMessage);
      ws.off("close", onClose);
    };
    const onMessage = (data: RawData) => {
      done();
      const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8");
      if (text.trim() === "") return resolve({});
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        return reject(errors.badRequest("gateway", "malformed JSON in the first message"));
      }
      if (typeof v !== "object" || v === null || Array.isArray(v)) return reject(errors.badRequest("gateway", "the first message must be a JSON object"));
      resolve(v as Record<string, unknown>);
    };
    const onClose = () => {
      done();
      resolve(undefined);
    };
    const t = setTimeout(() => {
      done();
      reject(errors.timeout("gateway", `no request message within ${timeout} ms`));
    }, timeout);
    ws.on("message", onMessage);
    ws.once("close", onClose);
  });
}

/** Sends one message, waiting while the socket's queue is over the high-water mark. */
async function send(ws: WebSocket, data: string): Promise<void> {
  while (ws.bufferedAmount > HIGH_WATER && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 10));
  if (ws.readyState !== WebSocket.OPEN) return;
  await new Promise<void>((resolve, reject) => ws.send(data, (err) => (err ? reject(errors.new("gateway", "client went away", 499)) : resolve())));
}

function closeWithError(ws: WebSocket, err: MicroError, s: Shared): void {
  if (err.code >= 500 && err.code !== 504) s.o.logger?.warn("gateway: websocket call failed", { code: err.code, error: err.detail });
  if (ws.readyState !== WebSocket.OPEN) return;
  const code = err.code >= 400 && err.code <= 599 ? 4000 + err.code : 1011;
  ws.send(JSON.stringify(err.toJSON()), () => ws.close(code, err.status));
}
