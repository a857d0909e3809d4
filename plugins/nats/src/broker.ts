/**
 * `natsBroker`: the Broker on core NATS. A topic is a subject, a queue group is a NATS queue
 * subscription, headers travel as NATS headers. Delivery is at most once, like every broker:
 * use `natsEvents` for a durable stream.
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
import { errors } from "@micro-ts/micro";
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "nats";
import { Connector, natsError, type NatsConnectOptions } from "./connection.js";

const ID = "micro.broker.nats";

/**
 * Header pairs NATS cannot carry as they are (keys outside printable ASCII or with `:`,
 * values with CR/LF or edge whitespace, which NATS trims) travel JSON-encoded in this one.
 */
export const ESCAPED_HEADERS = "Micro-Escaped-Headers";

export interface NatsBrokerOptions extends NatsConnectOptions {
  /** Where handler failures are reported. @default none (failures are dropped) */
  logger?: Logger;
}

/** A topic must be a valid NATS subject: non-empty tokens, no whitespace. */
function checkTopic(topic: string): void {
  if (typeof topic !== "string" || topic === "" || /\s/.test(topic) || topic.split(".").some((t) => t === "")) {
    throw errors.badRequest(ID, `invalid topic ${JSON.stringify(topic)}: it must be a NATS subject`);
  }
}

const KEY_OK = /^[!-9;-~]+$/; // printable ASCII except ':'

export function encodeHeaders(h: Record<string, string>): MsgHdrs | undefined {
  const keys = Object.keys(h);
  if (keys.length === 0) return undefined;
  const out = natsHeaders();
  const escaped: Record<string, string> = {};
  for (const k of keys) {
    const v = h[k]!;
    if (KEY_OK.test(k) && k !== ESCAPED_HEADERS && !/[\r\n]/.test(v) && v === v.trim()) out.set(k, v);
    else escaped[k] = v;
  }
  if (Object.keys(escaped).length > 0) out.set(ESCAPED_HEADERS, JSON.stringify(escaped));
  return out;
}

export function decodeHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) {
    if (k === ESCAPED_HEADERS) continue;
    out[k] = h.get(k);
  }
  const esc = h.get(ESCAPED_HEADERS);
  if (esc) {
    try {
      Object.assign(out, JSON.parse(esc) as Record<string, string>);
    } catch {
      // a foreign publisher's malformed header: keep the rest
    }
  }
  return out;
}

class NatsSubscriber implements Subscriber {
  private done: Promise<void> | undefined;
  constructor(
    readonly topic: string,
    readonly queue: string | undefined,
    private readonly sub: Subscription,
    private readonly nc: NatsConnection,
    private readonly forget: (s: NatsSubscriber) => void,
  ) {}

  unsubscribe(): Promise<void> {
    this.done ??= (async () => {
      this.forget(this);
      if (this.sub.isClosed()) return;
      this.sub.unsubscribe();
      // Once the server has seen the UNSUB, no later publish reaches this handler.
      if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
    })();
    return this.done;
  }
}

export class NatsBroker implements Broker {
  readonly name = "nats";
  private readonly conn: Connector;
  private readonly subs = new Set<NatsSubscriber>();

  constructor(private readonly opts: NatsBrokerOptions = {}) {
    this.conn = new Connector(ID, opts);
  }

  async connect(): Promise<void> {
    await this.conn.get();
  }

  async publish(topic: string, msg: BrokerMessage, o: BrokerPublishOptions = {}): Promise<void> {
    this.conn.check();
    checkTopic(topic);
    o.signal?.throwIfAborted();
    const nc = await this.conn.get();
    try {
      // nats.js queues a reference to the body until it flushes: copy, since the caller may reuse it.
      nc.publish(topic, new Uint8Array(msg.body), { headers: encodeHeaders(msg.header) });
      // Resolving after the server has the message keeps publish ordered with later subscribes.
      await nc.flush();
    } catch (e) {
      throw natsError(ID, `publish to ${topic}`, e);
    }
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    this.conn.check();
    checkTopic(topic);
    const nc = await this.conn.get();
    const log = this.opts.logger;
    const fail = (e: unknown) => log?.error("broker: handler failed", { topic, error: e });
    const sub = nc.subscribe(topic, {
      ...(o.queue ? { queue: o.queue } : {}),
      callback: (err, m: Msg) => {
        if (err) return fail(err);
        const ev: BrokerEvent = { topic: m.subject, header: decodeHeaders(m.headers), body: m.data };
        try {
          const r = handler(ev);
          if (r && typeof r.then === "function") r.then(undefined, fail);
        } catch (e) {
          fail(e);
        }
      },
    });
    const s = new NatsSubscriber(topic, o.queue || undefined, sub, nc, (x) => this.subs.delete(x));
    this.subs.add(s);
    try {
      // Resolve once the server registered the interest: a publish after this reaches us.
      await nc.flush();
    } catch (e) {
      await s.unsubscribe();
      throw natsError(ID, `subscribe to ${topic}`, e);
    }
    return s;
  }

  async close(): Promise<void> {
    if (this.conn.isClosed) return;
    const subs = [...this.subs];
    // Unsubscribe first so a shared connection stops delivering to our handlers.
    await Promise.all(subs.map((s) => s.unsubscribe()));
    await this.conn.close();
  }
}

/** A Broker on core NATS: `new Service({ broker: natsBroker({ servers: "127.0.0.1:4222" }) })`. */
export function natsBroker(opts: NatsBrokerOptions = {}): NatsBroker {
  return new NatsBroker({ ...opts });
}
