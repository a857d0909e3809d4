/**
 * `rabbitmqBroker`: the Broker on RabbitMQ (AMQP 0-9-1).
 *
 * Every message goes to one topic exchange (`micro` by default) with the topic as routing
 * key. A fan-out subscriber consumes from its own exclusive, auto-delete, server-named queue
 * bound to the topic; a queue group shares one durable queue per (topic, group), named
 * `<exchange>.<topic>.<group>` (competing consumers: each message reaches one member).
 * Headers travel as AMQP headers. Publishing waits for the broker's confirm.
 *
 * Acknowledgements are manual and sent after the handler ran. A handler that throws or
 * rejects has its message acked and the failure logged (a Broker delivers a message to a
 * handler once), unless `requeueOnError` is set: the message is then nacked and requeued
 * once (for a group, another member may get it), and dropped (logged) if it fails again.
 */
import type {
  Broker,
  BrokerEvent,
  BrokerHandler,
  BrokerMessage,
  BrokerPublishOptions,
  Logger,
  SubscribeOptions,
  Subscriber,
} from "@micro-ts/micro";
import { errors, isMicroError, type MicroError } from "@micro-ts/micro";
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";

const ID = "micro.broker.rabbitmq";

export interface RabbitmqBrokerOptions {
  /** The AMQP URL, with credentials and vhost. @default "amqp://guest:guest@127.0.0.1:5672" */
  url?: string;
  /** The topic exchange messages go through (declared durable if missing). @default "micro" */
  exchange?: string;
  /** How long connecting may take before failing with a 503, in ms. @default 5000 */
  timeout?: number;
  /** Unacknowledged messages a subscriber may hold at once. @default 64 */
  prefetch?: number;
  /** Requeue a message once when its handler fails, then drop it. @default false */
  requeueOnError?: boolean;
  /**
   * Delete a queue group's durable queue after it has had no consumer for this long, in ms
   * (RabbitMQ's `x-expires`); 0 keeps it until deleted by hand. @default 0
   */
  groupQueueExpires?: number;
  /** Where handler failures and connection losses are reported. @default none */
  logger?: Logger;
}

const DEFAULTS = {
  url: "amqp://guest:guest@127.0.0.1:5672",
  exchange: "micro",
  timeout: 5000,
  prefetch: 64,
  requeueOnError: false,
  groupQueueExpires: 0,
} as const;

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

/** A topic is an AMQP routing key: non-empty, at most 255 bytes. */
function checkTopic(topic: string): void {
  if (typeof topic !== "string" || topic === "" || Buffer.byteLength(topic) > 255) {
    throw errors.badRequest(ID, `invalid topic ${JSON.stringify(topic)}: it must be a routing key of 1 to 255 bytes`);
  }
}

/** Header values a foreign publisher set as non-strings are turned into strings. */
function decodeHeaders(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  return out;
}

function amqpError(what: string, e: unknown): MicroError {
  if (isMicroError(e)) return e;
  const why = e instanceof Error ? e.message : String(e);
  return errors.serviceUnavailable(ID, `${what}: RabbitMQ: ${why}`, e);
}

class RabbitmqSubscriber implements Subscriber {
  private done: Promise<void> | undefined;
  stopped = false;
  constructor(
    readonly topic: string,
    readonly queue: string | undefined,
    private readonly ch: Channel,
    private readonly tag: string,
    private readonly forget: (s: RabbitmqSubscriber) => void,
  ) {}

  unsubscribe(): Promise<void> {
    this.done ??= (async () => {
      this.stopped = true;
      this.forget(this);
      // Cancelling ends delivery; closing the channel requeues anything unacked (for a
      // group: to another member) and removes an exclusive fan-out queue.
      await this.ch.cancel(this.tag).catch(() => undefined);
      await this.ch.close().catch(() => undefined);
    })();
    return this.done;
  }
}

export class RabbitmqBroker implements Broker {
  readonly name = "rabbitmq";
  private readonly opts: Required<Omit<RabbitmqBrokerOptions, "logger">> & { logger?: Logger };
  private conn: ChannelModel | undefined;
  private pending: Promise<ChannelModel> | undefined;
  private pub: Promise<ConfirmChannel> | undefined;
  private closed = false;
  private readonly subs = new Set<RabbitmqSubscriber>();

  constructor(o: RabbitmqBrokerOptions = {}) {
    const opts = { ...DEFAULTS, ...o };
    if (typeof opts.url !== "string" || !/^amqps?:\/\//.test(opts.url)) throw errors.badRequest(ID, "url must be an amqp:// or amqps:// URL");
    if (!(opts.timeout > 0)) throw errors.badRequest(ID, "timeout must be positive");
    if (!(opts.prefetch > 0)) throw errors.badRequest(ID, "prefetch must be positive");
    if (!(opts.groupQueueExpires >= 0)) throw errors.badRequest(ID, "groupQueueExpires must be >= 0");
    if (opts.exchange === "" || opts.exchange.startsWith("amq.")) throw errors.badRequest(ID, "exchange must be a non-empty name not starting with amq.");
    this.opts = Object.freeze(opts);
  }

  /** The URL without its password. */
  get address(): string {
    return redact(this.opts.url);
  }

  private check(): void {
    if (this.closed) throw errors.serviceUnavailable(ID, `${ID} closed`);
  }

  private connection(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(ID, `${ID} closed`));
    if (this.conn) return Promise.resolve(this.conn);
    this.pending ??= this.dial().then(
      (c) => {
        this.pending = undefined;
        if (this.closed) {
          void c.close().catch(() => undefined);
          throw errors.serviceUnavailable(ID, `${ID} closed`);
        }
        this.conn = c;
        return c;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  private async dial(): Promise<ChannelModel> {
    const t = this.opts.timeout;
    let timer: NodeJS.Timeout | undefined;
    const attempt = connect(this.opts.url, { timeout: t });
    try {
      const c = await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${t} ms`)), t);
        }),
      ]);
      c.on("error", (e: Error) => this.opts.logger?.error("broker: RabbitMQ connection error", { error: e }));
      c.on("close", () => {
        if (this.conn !== c) return;
        // A lost connection: the next call dials again; its subscriptions are gone.
        this.conn = undefined;
        this.pub = undefined;
        if (!this.closed) this.opts.logger?.error("broker: RabbitMQ connection closed", { address: this.address });
        for (const s of [...this.subs]) void s.unsubscribe();
      });
      const ch = await c.createConfirmChannel();
      await ch.assertExchange(this.opts.exchange, "topic", { durable: true });
      await ch.close();
      return c;
    } catch (e) {
      void attempt.then((c) => c.close()).catch(() => undefined);
      const why = e instanceof Error ? e.message : String(e);
      throw errors.serviceUnavailable(ID, `cannot connect to RabbitMQ at ${this.address}: ${why}`, e);
    } finally {
      clearTimeout(timer);
    }
  }

  private publisher(): Promise<ConfirmChannel> {
    this.pub ??= this.connection()
      .then((c) => c.createConfirmChannel())
      .then((ch) => {
        ch.on("error", () => undefined);
        ch.on("close", () => {
          if (this.pub === p) this.pub = undefined;
        });
        return ch;
      });
    const p = this.pub;
    p.catch(() => {
      if (this.pub === p) this.pub = undefined;
    });
    return p;
  }

  async connect(): Promise<void> {
    await this.connection();
  }

  async publish(topic: string, msg: BrokerMessage, o: BrokerPublishOptions = {}): Promise<void> {
    this.check();
    checkTopic(topic);
    o.signal?.throwIfAborted();
    const ch = await this.publisher();
    try {
      // Buffer.from copies: the caller may reuse its buffer once publish resolved.
      await new Promise<void>((resolve, reject) => {
        ch.publish(this.opts.exchange, topic, Buffer.from(msg.body), { headers: { ...msg.header } }, (err: unknown) =>
          err ? reject(err instanceof Error ? err : new Error("message nacked by the broker")) : resolve(),
        );
      });
    } catch (e) {
      throw amqpError(`publish to ${topic}`, e);
    }
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    this.check();
    checkTopic(topic);
    const group = o.queue || undefined;
    const c = await this.connection();
    let ch: Channel | undefined;
    try {
      ch = await c.createChannel();
      ch.on("error", (e: Error) => this.opts.logger?.error("broker: RabbitMQ channel error", { topic, error: e }));
      await ch.prefetch(this.opts.prefetch);
      const q = group
        ? await ch.assertQueue(`${this.opts.exchange}.${topic}.${group}`, {
            durable: true,
            ...(this.opts.groupQueueExpires > 0 ? { expires: this.opts.groupQueueExpires } : {}),
          })
        : await ch.assertQueue("", { exclusive: true, autoDelete: true, durable: false });
      await ch.bindQueue(q.queue, this.opts.exchange, topic);
      const channel = ch;
      let sub: RabbitmqSubscriber | undefined;
      const { consumerTag } = await ch.consume(q.queue, (m) => {
        if (m) void this.deliver(channel, m, handler, () => sub?.stopped ?? false, group !== undefined);
      });
      sub = new RabbitmqSubscriber(topic, group, ch, consumerTag, (x) => this.subs.delete(x));
      this.subs.add(sub);
      return sub;
    } catch (e) {
      await ch?.close().catch(() => undefined);
      throw amqpError(`subscribe to ${topic}`, e);
    }
  }

  private async deliver(ch: Channel, m: ConsumeMessage, handler: BrokerHandler, stopped: () => boolean, group: boolean): Promise<void> {
    if (stopped()) {
      // Arrived after unsubscribe: a group's other members take it; a fan-out queue is going away.
      if (group) ch.nack(m, false, true);
      return;
    }
    const ev: BrokerEvent = {
      topic: m.fields.routingKey,
      header: decodeHeaders(m.properties.headers as Record<string, unknown> | undefined),
      body: new Uint8Array(m.content.buffer, m.content.byteOffset, m.content.byteLength),
    };
    try {
      await handler(ev);
      ch.ack(m);
    } catch (e) {
      const retry = this.opts.requeueOnError && !m.fields.redelivered;
      this.opts.logger?.error(retry ? "broker: handler failed, requeued once" : "broker: handler failed, message dropped", {
        topic: ev.topic,
        error: e,
      });
      try {
        if (retry) ch.nack(m, false, true);
        else ch.ack(m);
      } catch {
        // the channel closed meanwhile: RabbitMQ requeues unacked messages by itself
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subs].map((s) => s.unsubscribe()));
    const c = this.conn ?? (await this.pending?.catch(() => undefined));
    this.conn = undefined;
    this.pub = undefined;
    await c?.close().catch(() => undefined);
  }
}

/** A Broker on RabbitMQ: `new Service({ broker: rabbitmqBroker({ url: "amqp://guest:guest@127.0.0.1:5672" }) })`. */
export function rabbitmqBroker(opts: RabbitmqBrokerOptions = {}): RabbitmqBroker {
  return new RabbitmqBroker({ ...opts });
}
