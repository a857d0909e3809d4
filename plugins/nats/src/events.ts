/**
 * `natsEvents`: the Events stream on NATS JetStream.
 *
 * Layout: one stream per topic, named `<streamPrefix><topic>` and holding the single subject
 * `<subjectPrefix>.<topic>` (the topic encoded by `encodeName`, so it is one subject token).
 * A stream per topic keeps JetStream's stream sequence equal to the topic's event sequence
 * (1, 2, 3, ... gap-free), and lets each topic have its own limits. A consumer group is a
 * durable pull consumer named after the group; a consumer without a group gets its own
 * consumer, deleted when it stops. See ./events-consumer.ts for delivery, acks and dead
 * letters.
 */
import { randomUUID } from "node:crypto";
import {
  DEAD_LETTER_SUFFIX,
  errors,
  type Consumer,
  type ConsumeOptions,
  type Event,
  type Events,
  type EventsPublishOptions,
  type EventsReadOptions,
  type Logger,
} from "@micro-ts/micro";
import {
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type StoredMsg,
} from "nats";
import { Connector, natsError, type NatsConnectOptions } from "./connection.js";
import { decodeEvent, encodeEvent, ID, readEvent, type Decoded } from "./events-codec.js";
import { NatsConsumer } from "./events-consumer.js";
import { decodeName, encodeName } from "./names.js";

export interface NatsEventsOptions extends NatsConnectOptions {
  /** Prefix of every topic's stream name. @default "micro-events-" */
  streamPrefix?: string;
  /** Prefix of every topic's subject. @default "micro.events" */
  subjectPrefix?: string;
  /** Where streams keep events. @default "file" */
  storage?: "file" | "memory";
  /** Stream replicas (in a cluster). @default 1 */
  replicas?: number;
  /** How long events are kept, in ms; 0 keeps them forever. @default 0 */
  maxAge?: number;
  /** How long one pull for the next event waits on the server before it is renewed, in ms. @default 5000 */
  pullExpires?: number;
  /** Timeout of JetStream API requests and acks, in ms. @default 5000 */
  requestTimeout?: number;
  /** Where background failures (dead-lettering, pulls) are reported. @default none */
  logger?: Logger;
}

const DEFAULTS = {
  streamPrefix: "micro-events-",
  subjectPrefix: "micro.events",
  storage: "file",
  replicas: 1,
  maxAge: 0,
  pullExpires: 5000,
  requestTimeout: 5000,
} as const;

export type ResolvedEventsOptions = Required<Omit<NatsEventsOptions, keyof NatsConnectOptions | "logger">> &
  Pick<NatsEventsOptions, "logger">;

const ms = (n: number): number => Math.round(n * 1_000_000); // ms -> ns, JetStream's unit

/** What a consumer needs from the events instance it belongs to. */
export interface EventsHost {
  readonly opts: ResolvedEventsOptions;
  nc(): Promise<NatsConnection>;
  jsm(): Promise<JetStreamManager>;
  streamOf(topic: string): string;
  ensureStream(topic: string): Promise<void>;
  /** Publishes an already encoded event; `msgID` deduplicates within the stream's window. */
  publishDead(topic: string, d: Decoded, seq: number, deliveries: number, msgID: string): Promise<void>;
  getMessage(stream: string, seq: number): Promise<StoredMsg | undefined>;
  streamState(topic: string): Promise<{ first: number; last: number } | undefined>;
  scan(topic: string, from: number, to: number): AsyncGenerator<StoredMsg>;
  forget(c: NatsConsumer): void;
}

export class NatsEvents implements Events, EventsHost {
  readonly opts: ResolvedEventsOptions;
  private readonly conn: Connector;
  private jsmP: Promise<JetStreamManager> | undefined;
  private jsP: Promise<JetStreamClient> | undefined;
  private readonly streams = new Map<string, Promise<void>>();
  private readonly consumers = new Set<NatsConsumer>();
  /** Consumers of a topic still being set up: a publish waits for them, so "latest" means "from consume() on". */
  private readonly settingUp = new Map<string, Set<Promise<unknown>>>();
  private watching = false;

  constructor(o: NatsEventsOptions = {}) {
    this.conn = new Connector(ID, o);
    const opts = {
      streamPrefix: o.streamPrefix ?? DEFAULTS.streamPrefix,
      subjectPrefix: o.subjectPrefix ?? DEFAULTS.subjectPrefix,
      storage: o.storage ?? DEFAULTS.storage,
      replicas: o.replicas ?? DEFAULTS.replicas,
      maxAge: o.maxAge ?? DEFAULTS.maxAge,
      pullExpires: o.pullExpires ?? DEFAULTS.pullExpires,
      requestTimeout: o.requestTimeout ?? DEFAULTS.requestTimeout,
      logger: o.logger,
    };
    if (!/^[A-Za-z0-9_-]*$/.test(opts.streamPrefix)) throw errors.badRequest(ID, "streamPrefix may hold only [A-Za-z0-9_-]");
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(opts.subjectPrefix)) throw errors.badRequest(ID, "subjectPrefix must be a literal subject");
    if (opts.storage !== "file" && opts.storage !== "memory") throw errors.badRequest(ID, 'storage must be "file" or "memory"');
    if (!(opts.pullExpires >= 1000)) throw errors.badRequest(ID, "pullExpires must be at least 1000 ms");
    if (!(opts.requestTimeout > 0)) throw errors.badRequest(ID, "requestTimeout must be positive");
    if (!(opts.maxAge >= 0)) throw errors.badRequest(ID, "maxAge must be >= 0");
    this.opts = Object.freeze(opts);
  }

  async nc(): Promise<NatsConnection> {
    const nc = await this.conn.get();
    if (!this.watching) {
      this.watching = true;
      void this.watchStatus(nc);
    }
    return nc;
  }

  /** After a reconnect, pulls pending on the old server are gone: every consumer pulls again. */
  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "reconnect") for (const c of this.consumers) c.repull();
    }
  }

  jsm(): Promise<JetStreamManager> {
    this.jsmP ??= this.nc()
      .then((nc) => nc.jetstreamManager({ timeout: this.opts.requestTimeout }))
      .catch((e: unknown) => {
        this.jsmP = undefined;
        throw natsError(ID, "JetStream unavailable", e);
      });
    return this.jsmP;
  }

  private js(): Promise<JetStreamClient> {
    this.jsP ??= this.nc()
      .then((nc) => nc.jetstream({ timeout: this.opts.requestTimeout }))
      .catch((e: unknown) => {
        this.jsP = undefined;
        throw e;
      });
    return this.jsP;
  }

  streamOf(topic: string): string {
    return this.opts.streamPrefix + encodeName(topic);
  }

  private subjectOf(topic: string): string {
    return `${this.opts.subjectPrefix}.${encodeName(topic)}`;
  }

  /** Creates the topic's stream once per instance; creating an existing one is a no-op. */
  ensureStream(topic: string): Promise<void> {
    let p = this.streams.get(topic);
    if (!p) {
      p = this.createStream(topic);
      this.streams.set(topic, p);
      p.catch(() => this.streams.delete(topic));
    }
    return p;
  }

  private async createStream(topic: string): Promise<void> {
    const jsm = await this.jsm();
    const name = this.streamOf(topic);
    try {
      await jsm.streams.add({
        name,
        subjects: [this.subjectOf(topic)],
        storage: this.opts.storage === "memory" ? StorageType.Memory : StorageType.File,
        retention: RetentionPolicy.Limits,
        num_replicas: this.opts.replicas,
        max_age: ms(this.opts.maxAge),
        description: `micro events topic ${topic}`,
      });
    } catch (e) {
      // Created by another instance with other limits: use it as it is.
      const exists = await jsm.streams.info(name).then(
        () => true,
        () => false,
      );
      if (!exists) throw natsError(ID, `creating stream ${name}`, e);
    }
  }

  private check(topic?: string): void {
    this.conn.check();
    if (topic !== undefined && (typeof topic !== "string" || topic === "")) throw errors.badRequest(ID, "topic is empty");
  }

  async publish(topic: string, payload: unknown, o: EventsPublishOptions = {}): Promise<string> {
    this.check(topic);
    const ts = o.timestamp === undefined ? Date.now() : new Date(o.timestamp).getTime();
    if (!Number.isFinite(ts)) throw errors.badRequest(ID, "invalid timestamp");
    const enc = encodeEvent(randomUUID(), payload, ts, { ...o.metadata });
    await this.ensureStream(topic);
    const pending = this.settingUp.get(topic);
    if (pending) await Promise.allSettled([...pending]);
    await this.send(topic, enc.body, enc.headers, enc.id);
    return enc.id;
  }

  private async send(topic: string, body: Uint8Array, headers: ReturnType<typeof encodeEvent>["headers"], msgID: string): Promise<void> {
    const js = await this.js();
    try {
      await js.publish(this.subjectOf(topic), body, { headers, msgID, timeout: this.opts.requestTimeout });
    } catch (e) {
      throw natsError(ID, `publish to ${topic}`, e);
    }
  }

  async publishDead(topic: string, d: Decoded, seq: number, deliveries: number, msgID: string): Promise<void> {
    const md = {
      ...d.metadata,
      "dead-topic": topic,
      "dead-id": d.id,
      "dead-sequence": String(seq),
      "dead-deliveries": String(deliveries),
    };
    const dead = topic + DEAD_LETTER_SUFFIX;
    const enc = encodeEvent(randomUUID(), d.payload, d.timestamp.getTime(), md);
    await this.ensureStream(dead);
    await this.send(dead, enc.body, enc.headers, msgID);
  }

  consume(topic: string, o: ConsumeOptions = {}): Consumer {
    this.check(topic);
    const c = new NatsConsumer(this, topic, o);
    this.consumers.add(c);
    let set = this.settingUp.get(topic);
    if (!set) this.settingUp.set(topic, (set = new Set()));
    const ready = c.ready.catch(() => undefined);
    set.add(ready);
    void ready.then(() => {
      set.delete(ready);
      if (set.size === 0 && this.settingUp.get(topic) === set) this.settingUp.delete(topic);
    });
    return c;
  }

  forget(c: NatsConsumer): void {
    this.consumers.delete(c);
  }

  async getMessage(stream: string, seq: number): Promise<StoredMsg | undefined> {
    const jsm = await this.jsm();
    try {
      return await jsm.streams.getMessage(stream, { seq });
    } catch (e) {
      if ((e as { api_error?: { code?: number } }).api_error?.code === 404) return undefined;
      throw natsError(ID, `reading ${stream} #${seq}`, e);
    }
  }

  /** Stream state, or undefined when the topic has no stream. */
  async streamState(topic: string): Promise<{ first: number; last: number } | undefined> {
    const jsm = await this.jsm();
    try {
      const si = await jsm.streams.info(this.streamOf(topic));
      return { first: si.state.first_seq, last: si.state.last_seq };
    } catch (e) {
      if ((e as { api_error?: { code?: number } }).api_error?.code === 404) return undefined;
      throw natsError(ID, `stream of ${topic}`, e);
    }
  }

  /** Fetches stored messages [from, to] by direct sequence lookups, a batch at a time. */
  async *scan(topic: string, from: number, to: number): AsyncGenerator<StoredMsg> {
    const stream = this.streamOf(topic);
    const BATCH = 64;
    for (let s = from; s <= to; s += BATCH) {
      const seqs = Array.from({ length: Math.min(BATCH, to - s + 1) }, (_, i) => s + i);
      const got = await Promise.all(seqs.map((q) => this.getMessage(stream, q)));
      for (const m of got) if (m) yield m;
    }
  }

  async read(topic: string, o: EventsReadOptions = {}): Promise<Event[]> {
    this.check(topic);
    const offset = o.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw errors.badRequest(ID, "offset must be a non-negative integer");
    if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 0)) throw errors.badRequest(ID, "limit must be a non-negative integer");
    const st = await this.streamState(topic);
    if (!st || st.last === 0) return [];
    const to = o.limit === undefined ? st.last : Math.min(st.last, offset + o.limit);
    const out: Event[] = [];
    for await (const m of this.scan(topic, Math.max(offset + 1, st.first), to)) {
      out.push(readEvent(topic, decodeEvent(m.header, m.data, `${m.seq}`, m.time), m.seq));
    }
    return out;
  }

  async topics(): Promise<string[]> {
    this.check();
    const jsm = await this.jsm();
    const out: string[] = [];
    try {
      for await (const si of jsm.streams.list(`${this.opts.subjectPrefix}.>`)) {
        if (!si.config.name.startsWith(this.opts.streamPrefix) || si.state.messages === 0) continue;
        const t = decodeName(si.config.name.slice(this.opts.streamPrefix.length));
        if (t !== undefined) out.push(t);
      }
    } catch (e) {
      throw natsError(ID, "listing streams", e);
    }
    return out.sort();
  }

  async close(): Promise<void> {
    if (this.conn.isClosed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.conn.close();
  }
}

/**
 * Events on NATS JetStream:
 * `new Service({ events: natsEvents({ servers: "127.0.0.1:4222" }) })`.
 */
export function natsEvents(opts: NatsEventsOptions = {}): NatsEvents {
  return new NatsEvents({ ...opts });
}
