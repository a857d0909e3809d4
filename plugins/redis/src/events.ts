/**
 * Events on Redis Streams. A topic is the stream N:events:<topic>; event n has the stream id
 * `n-0` (n from the counter N:events:<topic>:seq, INCR'd and XADDed in one Lua script), so
 * sequences are gap-free and start at 1. Fields: id, ts (ms), md (metadata JSON), k (j JSON,
 * b bytes), p (payload). N:events:topics is a sorted set of topics.
 * A consumer group is a Redis consumer group; a consumer without a group gets a private group,
 * destroyed when it stops. Each consumer reads with XREADGROUP (new events) and XAUTOCLAIM
 * (events idle longer than its ackWait, or handed back by nack/stop, which set their idle time
 * far into the past with XCLAIM ... IDLE JUSTID). The delivery count is Redis's own (XPENDING).
 * An event delivered more than retryLimit + 1 times is XADDed to `<topic>.dead` and XACKed.
 */
import { randomUUID } from "node:crypto";
import { errors, DEAD_LETTER_SUFFIX, type ConsumeOptions, type Consumer, type Event, type Events, type EventsPublishOptions, type EventsReadOptions } from "@micro-ts/micro";
import type { Redis } from "ioredis";
import { Connection, type RedisConnectOptions } from "./connection.js";

export const EVENTS_ERROR_ID = "micro.events";

export interface RedisEventsOptions extends RedisConnectOptions {
  /** Longest a consumer blocks on XREADGROUP before looking for redeliveries again, in ms. @default 1000 */
  pollInterval?: number;
}

const PUBLISH = `
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], seq .. '-0', 'id', ARGV[2], 'ts', ARGV[3], 'md', ARGV[4], 'k', ARGV[5], 'p', ARGV[6])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return seq
`;
const CLAIM = `
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', 1)
local e = r[2][1]
if not e then return false end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
return {e[1], e[2], p[1][4]}
`;
/** Idle time given to handed-back events, so any member's XAUTOCLAIM takes them at once. */
const HANDED_BACK_IDLE = 1e12;

type Scripted = Redis & {
  microEventsPublishBuffer(...a: (string | Buffer | number)[]): Promise<number>;
  microEventsClaimBuffer(...a: (string | number)[]): Promise<[Buffer, Buffer[], number] | null>;
};

interface Raw {
  sid: string;
  fields: Buffer[];
}

export class RedisEvents implements Events {
  readonly conn: Connection;
  readonly ns: string;
  readonly poll: number;
  private readonly scripted = new WeakSet<Redis>();
  private readonly consumers = new Set<RedisConsumer>();
  private closed = false;

  constructor(opts: RedisEventsOptions = {}) {
    this.conn = new Connection(opts, EVENTS_ERROR_ID);
    this.ns = `${this.conn.namespace}:events`;
    this.poll = opts.pollInterval ?? 1000;
  }

  stream(topic: string): string {
    return `${this.ns}:${topic}`;
  }

  run<T>(fn: (r: Scripted) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(EVENTS_ERROR_ID, "closed"));
    return this.conn.run(async (r) => {
      if (!this.scripted.has(r)) {
        r.defineCommand("microEventsPublish", { numberOfKeys: 3, lua: PUBLISH });
        r.defineCommand("microEventsClaim", { numberOfKeys: 1, lua: CLAIM });
        this.scripted.add(r);
      }
      return fn(r as Scripted);
    });
  }

  async publish(topic: string, payload: unknown, o: EventsPublishOptions = {}): Promise<string> {
    if (this.closed) throw errors.serviceUnavailable(EVENTS_ERROR_ID, "closed");
    if (typeof topic !== "string" || topic === "") throw errors.badRequest(EVENTS_ERROR_ID, "topic must be a non-empty string");
    let kind: string;
    let body: Buffer;
    if (payload instanceof Uint8Array) {
      kind = "b";
      body = Buffer.from(payload); // a copy
    } else {
      let text: string | undefined;
      try {
        text = JSON.stringify(payload) as string | undefined;
      } catch (e) {
        throw errors.badRequest(EVENTS_ERROR_ID, "payload is not JSON-able", e);
      }
      if (text === undefined) throw errors.badRequest(EVENTS_ERROR_ID, "payload is not JSON-able");
      kind = "j";
      body = Buffer.from(text);
    }
    const ts = o.timestamp === undefined ? Date.now() : new Date(o.timestamp).getTime();
    if (!Number.isFinite(ts)) throw errors.badRequest(EVENTS_ERROR_ID, "invalid timestamp");
    const id = randomUUID();
    const md = JSON.stringify(o.metadata ?? {});
    await this.run((r) => r.microEventsPublishBuffer(this.stream(topic), `${this.stream(topic)}:seq`, `${this.ns}:topics`, topic, id, ts, md, kind, body));
    return id;
  }

  toEvent(topic: string, raw: Raw, deliveries: number, c?: RedisConsumer): RedisEvent {
    const f: Record<string, Buffer> = {};
    for (let i = 0; i + 1 < raw.fields.length; i += 2) f[raw.fields[i]!.toString()] = raw.fields[i + 1]!;
    const p = f["p"] ?? Buffer.alloc(0);
    return new RedisEvent(
      f["id"]?.toString() ?? "",
      topic,
      f["k"]?.toString() === "b" ? new Uint8Array(p) : JSON.parse(p.toString("utf8")),
      new Date(Number(f["ts"]?.toString() ?? 0)),
      JSON.parse(f["md"]?.toString() || "{}") as Record<string, string>,
      Number(raw.sid.split("-")[0]),
      deliveries,
      raw.sid,
      c,
    );
  }

  consume(topic: string, o: ConsumeOptions = {}): Consumer {
    if (this.closed) throw errors.serviceUnavailable(EVENTS_ERROR_ID, "closed");
    if (typeof topic !== "string" || topic === "") throw errors.badRequest(EVENTS_ERROR_ID, "topic must be a non-empty string");
    const c = new RedisConsumer(this, topic, o);
    this.consumers.add(c);
    c.onStop = () => this.consumers.delete(c);
    return c;
  }

  /** Wakes local consumers of a group blocked on XREADGROUP (an event was handed back). */
  wake(topic: string, group: string): void {
    for (const c of this.consumers) if (c.topic === topic && c.group === group) c.wake();
  }

  async read(topic: string, o: EventsReadOptions = {}): Promise<Event[]> {
    const offset = o.offset ?? 0;
    const limit = o.limit;
    if (!Number.isInteger(offset) || offset < 0 || (limit !== undefined && (!Number.isInteger(limit) || limit < 0))) {
      throw errors.badRequest(EVENTS_ERROR_ID, "offset and limit must be non-negative integers");
    }
    const res = await this.run((r) =>
      limit ? r.xrangeBuffer(this.stream(topic), `${offset + 1}-0`, "+", "COUNT", limit) : r.xrangeBuffer(this.stream(topic), `${offset + 1}-0`, "+"),
    );
    return res.map(([sid, fields]) => this.toEvent(topic, { sid: sid.toString(), fields }, 1));
  }

  async topics(): Promise<string[]> {
    return (await this.run((r) => r.zrange(`${this.ns}:topics`, 0, -1))).sort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.closed = true;
    this.conn.close();
  }
}

class RedisEvent implements Event {
  constructor(
    readonly id: string,
    readonly topic: string,
    readonly payload: unknown,
    readonly timestamp: Date,
    readonly metadata: Readonly<Record<string, string>>,
    readonly sequence: number,
    readonly deliveries: number,
    readonly sid: string,
    private readonly consumer: RedisConsumer | undefined,
  ) {}
  private settled: Promise<void> | undefined;
  ack(): Promise<void> {
    if (!this.consumer) return Promise.resolve();
    return (this.settled ??= this.consumer.ack(this));
  }
  nack(): Promise<void> {
    if (!this.consumer) return Promise.resolve();
    return (this.settled ??= this.consumer.nack(this));
  }
}

class RedisConsumer implements Consumer {
  readonly group: string;
  private readonly name = randomUUID();
  private readonly privateGroup: boolean;
  private readonly autoAck: boolean;
  private readonly ackWait: number;
  private readonly retryLimit: number;
  private readonly ready: Promise<void>;
  private blocking: Promise<Redis> | undefined;
  private blockingId: number | undefined;
  private last: RedisEvent | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  onStop: () => void = () => undefined;

  constructor(
    private readonly ev: RedisEvents,
    readonly topic: string,
    o: ConsumeOptions,
  ) {
    this.privateGroup = !o.group;
    this.group = o.group || `~${randomUUID()}`;
    this.autoAck = o.autoAck ?? true;
    this.ackWait = o.ackWait ?? 30_000;
    this.retryLimit = o.retryLimit ?? 3;
    if (!(this.ackWait > 0) || !Number.isInteger(this.retryLimit) || this.retryLimit < 0) {
      throw errors.badRequest(EVENTS_ERROR_ID, "ackWait must be positive and retryLimit a non-negative integer");
    }
    this.ready = this.create(o.offset ?? "latest");
    this.ready.catch(() => undefined);
    if (o.signal) {
      if (o.signal.aborted) void this.stop();
      else o.signal.addEventListener("abort", () => void this.stop(), { once: true });
    }
  }

  /** Creates the group at its start position (an existing group keeps its own). */
  private async create(offset: NonNullable<ConsumeOptions["offset"]>): Promise<void> {
    const key = this.ev.stream(this.topic);
    let start: string;
    if (offset === "latest") start = "$";
    else if (offset === "earliest") start = "0-0";
    else if (typeof offset === "number") start = `${Math.max(0, Math.floor(offset))}-0`;
    else {
      const at = offset.getTime();
      let from = "-";
      let last = 0;
      start = "";
      while (start === "") {
        const batch = await this.ev.run((r) => r.xrange(key, from, "+", "COUNT", 500));
        for (const [sid, fields] of batch) {
          const seq = Number(sid.split("-")[0]);
          const ts = Number(fields[fields.indexOf("ts") + 1]);
          if (ts >= at) {
            start = `${seq - 1}-0`;
            break;
          }
          last = seq;
        }
        if (start === "" && batch.length < 500) start = `${last}-0`;
        else if (start === "") from = `(${batch[batch.length - 1]![0]}`;
      }
    }
    await this.ev.run((r) => r.xgroup("CREATE", key, this.group, start, "MKSTREAM")).catch((e: unknown) => {
      if (!String((e as { cause?: Error }).cause?.message ?? e).includes("BUSYGROUP")) throw e;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    return {
      next: () => this.next(),
      return: async () => {
        if (this.autoAck && this.last) await this.last.ack().catch(() => undefined);
        this.last = undefined;
        await this.stop();
        return { done: true, value: undefined };
      },
    };
  }

  private async next(): Promise<IteratorResult<Event>> {
    if (this.autoAck && this.last) await this.last.ack().catch(() => undefined);
    this.last = undefined;
    const done = { done: true, value: undefined } as const;
    if (this.stopped) return done;
    try {
      await this.ready;
      const key = this.ev.stream(this.topic);
      while (!this.stopped) {
        const claimed = await this.ev.run((r) => r.microEventsClaimBuffer(key, this.group, this.name, Math.ceil(this.ackWait)));
        if (claimed) {
          const e = this.ev.toEvent(this.topic, { sid: claimed[0].toString(), fields: claimed[1] }, Number(claimed[2]), this);
          if (e.deliveries > this.retryLimit + 1) {
            await this.park(e);
            continue;
          }
          return this.deliver(e);
        }
        const b = await this.blocker();
        const res = (await b.xreadgroup("GROUP", this.group, this.name, "COUNT", 1, "BLOCK", Math.max(1, Math.min(this.ackWait, this.ev.poll)), "STREAMS", key, ">").catch((e: unknown) => {
          if (this.stopped) return null;
          throw this.ev.conn.wrap(e);
        })) as [string, [string, string[]][]][] | null;
        const entry = res?.[0]?.[1]?.[0];
        if (entry && !this.stopped) {
          // Re-read as bytes: the blocking reply came back as strings.
          const [raw] = await this.ev.run((r) => r.xrangeBuffer(key, entry[0], entry[0]));
          if (!raw) continue;
          return this.deliver(this.ev.toEvent(this.topic, { sid: entry[0], fields: raw[1] }, 1, this));
        }
      }
      return done;
    } catch (e) {
      if (this.stopped) return done;
      throw e;
    }
  }

  private deliver(e: RedisEvent): IteratorResult<Event> {
    this.last = e;
    return { done: false, value: e };
  }

  private async blocker(): Promise<Redis> {
    if (!this.blocking) {
      this.blocking = this.ev.conn.open().then(async (r) => {
        this.blockingId = Number(await r.client("ID"));
        return r;
      });
      this.blocking.catch(() => (this.blocking = undefined));
    }
    return this.blocking;
  }

  /** Ends a blocked XREADGROUP at once so the loop looks for handed-back events. */
  wake(): void {
    if (this.blockingId !== undefined) void this.ev.run((r) => r.client("UNBLOCK", this.blockingId!)).catch(() => undefined);
  }

  async ack(e: RedisEvent): Promise<void> {
    await this.ev.run((r) => r.xack(this.ev.stream(this.topic), this.group, e.sid));
  }

  async nack(e: RedisEvent): Promise<void> {
    if (e.deliveries > this.retryLimit) return this.park(e);
    await this.handBack([e.sid]);
  }

  private async handBack(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    await this.ev.run((r) => r.xclaim(this.ev.stream(this.topic), this.group, this.name, 0, ...sids, "IDLE", HANDED_BACK_IDLE, "JUSTID"));
    this.ev.wake(this.topic, this.group);
  }

  /** Moves an event to `<topic>.dead` and acks it here. */
  private async park(e: RedisEvent): Promise<void> {
    await this.ev.publish(this.topic + DEAD_LETTER_SUFFIX, e.payload, {
      timestamp: e.timestamp,
      metadata: { ...e.metadata, "dead-topic": this.topic, "dead-id": e.id, "dead-sequence": String(e.sequence), "dead-deliveries": String(e.deliveries) },
    });
    await this.ack(e);
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.doStop());
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    this.onStop();
    const b = this.blocking;
    this.blocking = undefined;
    if (b) await b.then((r) => this.ev.conn.release(r)).catch(() => undefined);
    const key = this.ev.stream(this.topic);
    try {
      await this.ready;
      if (this.privateGroup) {
        await this.ev.run((r) => r.xgroup("DESTROY", key, this.group));
        return;
      }
      // Hand our unacked events back to the group, then leave it.
      const pending = (await this.ev.run((r) => r.xpending(key, this.group, "-", "+", 10_000, this.name))) as [string, string, number, number][];
      await this.handBack(pending.map((p) => p[0]));
    } catch {
      // closed or unreachable: Redis redelivers after ackWait anyway
    }
  }
}

/** Events on Redis Streams (see RedisEvents for the layout). */
export function redisEvents(opts: RedisEventsOptions = {}): RedisEvents {
  return new RedisEvents(opts);
}
