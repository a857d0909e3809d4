/**
 * The broker on Redis pub/sub. Each topic is the channel N:broker:<topic>; a message is
 * one binary frame: 16 random id bytes, a 4-byte header length, the header JSON, the body.
 * Fan-out subscribers get every message on the channel. Queue groups get exactly one delivery
 * per message: every broker instance with members of the group receives the message, and the
 * members race to claim it with SET N:broker:claim:<topic>:<queue>:<id> NX PX 60000; the one
 * instance that wins hands it to one local member (round robin). Like all pub/sub, a message
 * only reaches subscribers connected when it is published (use events for durability).
 */
import { randomBytes } from "node:crypto";
import { errors, type Broker, type BrokerHandler, type BrokerMessage, type PublishOptions, type SubscribeOptions, type Subscriber } from "@micro-ts/micro";
import type { Redis } from "ioredis";
import { Connection, type RedisConnectOptions } from "./connection.js";

export const BROKER_ERROR_ID = "micro.broker";

export interface RedisBrokerOptions extends RedisConnectOptions {
  /** How long a queue-group claim is remembered, in ms. @default 60000 */
  claimTTL?: number;
}

interface Sub {
  topic: string;
  queue: string | undefined;
  handler: BrokerHandler;
}

interface TopicSubs {
  fanout: Set<Sub>;
  groups: Map<string, { members: Sub[]; next: number }>;
}

export function encodeFrame(msg: BrokerMessage): Buffer {
  const header = Buffer.from(JSON.stringify(msg.header ?? {}));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([randomBytes(16), len, header, msg.body ?? new Uint8Array(0)]);
}

export function decodeFrame(b: Buffer): { id: string; header: Record<string, string>; body: Uint8Array } {
  const id = b.subarray(0, 16).toString("hex");
  const n = b.readUInt32BE(16);
  const header = JSON.parse(b.subarray(20, 20 + n).toString("utf8")) as Record<string, string>;
  return { id, header, body: new Uint8Array(b.subarray(20 + n)) };
}

export class RedisBroker implements Broker {
  readonly name = "redis";
  private readonly conn: Connection;
  private readonly claimTTL: number;
  private readonly ns: string;
  private sub: Promise<Redis> | undefined;
  private readonly topics = new Map<string, TopicSubs>();
  private closed = false;

  constructor(opts: RedisBrokerOptions = {}) {
    this.conn = new Connection(opts, BROKER_ERROR_ID);
    this.claimTTL = opts.claimTTL ?? 60_000;
    this.ns = `${this.conn.namespace}:broker`;
  }

  private closedError() {
    return errors.serviceUnavailable(BROKER_ERROR_ID, "broker closed");
  }

  async connect(): Promise<void> {
    if (this.closed) throw this.closedError();
    await this.conn.client();
  }

  async publish(topic: string, msg: BrokerMessage, o: PublishOptions = {}): Promise<void> {
    if (this.closed) throw this.closedError();
    if (typeof topic !== "string" || topic === "") throw errors.badRequest(BROKER_ERROR_ID, "topic must be a non-empty string");
    o.signal?.throwIfAborted();
    const frame = encodeFrame(msg);
    await this.conn.run((r) => r.publish(`${this.ns}:${topic}`, frame));
  }

  /** The subscriber connection, opened once. */
  private subscriber(): Promise<Redis> {
    if (!this.sub) {
      const p = this.conn.open().then((r) => {
        r.on("messageBuffer", (channel: Buffer, message: Buffer) => this.dispatch(channel.toString("utf8").slice(this.ns.length + 1), message));
        return r;
      });
      this.sub = p;
      p.catch(() => {
        if (this.sub === p) this.sub = undefined;
      });
    }
    return this.sub;
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    if (this.closed) throw this.closedError();
    if (typeof topic !== "string" || topic === "") throw errors.badRequest(BROKER_ERROR_ID, "topic must be a non-empty string");
    const r = await this.subscriber();
    let ts = this.topics.get(topic);
    if (ts) {
      // A barrier on the subscriber connection: messages published before this call resolved
      // arrive ahead of the PONG, so the new handler never sees them.
      await r.ping().catch((e: unknown) => {
        throw this.conn.wrap(e);
      });
      if (this.closed) throw this.closedError();
      ts = this.topics.get(topic);
    }
    if (!ts) {
      ts = { fanout: new Set(), groups: new Map() };
      this.topics.set(topic, ts);
      try {
        await r.subscribe(`${this.ns}:${topic}`);
      } catch (e) {
        this.topics.delete(topic);
        throw this.conn.wrap(e);
      }
    }
    const s: Sub = { topic, queue: o.queue || undefined, handler };
    if (s.queue === undefined) ts.fanout.add(s);
    else {
      const g = ts.groups.get(s.queue) ?? { members: [], next: 0 };
      g.members.push(s);
      ts.groups.set(s.queue, g);
    }
    let done = false;
    return {
      topic,
      queue: s.queue,
      unsubscribe: async () => {
        if (done) return;
        done = true;
        this.remove(s);
        const left = this.topics.get(topic);
        if (left && left.fanout.size === 0 && left.groups.size === 0 && !this.closed) {
          this.topics.delete(topic);
          await r.unsubscribe(`${this.ns}:${topic}`).catch(() => undefined);
        }
      },
    };
  }

  private remove(s: Sub): void {
    const ts = this.topics.get(s.topic);
    if (!ts) return;
    if (s.queue === undefined) ts.fanout.delete(s);
    else {
      const g = ts.groups.get(s.queue);
      if (!g) return;
      g.members = g.members.filter((m) => m !== s);
      if (g.members.length === 0) ts.groups.delete(s.queue);
    }
  }

  private dispatch(topic: string, frame: Buffer): void {
    const ts = this.topics.get(topic);
    if (!ts || this.closed) return;
    let m: ReturnType<typeof decodeFrame>;
    try {
      m = decodeFrame(frame);
    } catch {
      return; // not ours
    }
    const ev = { topic, header: m.header, body: m.body };
    for (const s of ts.fanout) void this.call(s, ev);
    for (const queue of ts.groups.keys()) {
      void this.conn
        .run((r) => r.set(`${this.ns}:claim:${topic}:${queue}:${m.id}`, "1", "PX", this.claimTTL, "NX"))
        .then((ok) => {
          if (ok !== "OK" || this.closed) return;
          const live = this.topics.get(topic)?.groups.get(queue);
          if (!live || live.members.length === 0) return;
          const s = live.members[live.next++ % live.members.length]!;
          void this.call(s, ev);
        })
        .catch(() => undefined);
    }
  }

  private async call(s: Sub, ev: { topic: string; header: Record<string, string>; body: Uint8Array }): Promise<void> {
    try {
      await s.handler(ev);
    } catch {
      // a failing handler never stops delivery; the subscriber's side owns its logging
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.topics.clear();
    this.sub = undefined;
    this.conn.close();
  }
}

/** A Broker on Redis pub/sub (see RedisBroker for queue groups). */
export function redisBroker(opts: RedisBrokerOptions = {}): RedisBroker {
  return new RedisBroker(opts);
}
