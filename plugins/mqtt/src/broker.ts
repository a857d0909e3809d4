/**
 * `mqttBroker`: the Broker on an MQTT 5 server (Mosquitto, EMQX, HiveMQ, ...).
 *
 * Topics: a Micro topic's `.` separators become MQTT's `/` (`orders.created` is published
 * as `orders/created`, with `topicPrefix` in front when set) and back on delivery, so a
 * Micro topic may not contain `/`, `+`, `#` or NUL. A fan-out subscriber is a plain MQTT
 * subscription; a queue group is an MQTT 5 shared subscription `$share/<group>/<topic>`
 * (the server hands each message to one subscriber of the group). Headers travel as MQTT 5
 * user properties. Messages are published and subscribed at QoS 1, so publish resolves
 * once the server has the message.
 *
 * One MQTT connection per broker instance: subscribers on one topic (or one group of a
 * topic) share one MQTT subscription, told apart by MQTT 5 subscription identifiers; a
 * group's local members take its messages in turn.
 */
import { randomUUID } from "node:crypto";
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
import { connect, type IClientOptions, type IPublishPacket, type ISubscriptionMap, type MqttClient } from "mqtt";

const ID = "micro.broker.mqtt";

export interface MqttBrokerOptions {
  /** The server URL: `mqtt://`, `mqtts://`, `ws://` or `wss://`. @default "mqtt://127.0.0.1:1883" */
  url?: string;
  /** Put in front of every MQTT topic, e.g. `"micro/"`. @default "" */
  topicPrefix?: string;
  /** How long connecting may take before failing with a 503, in ms. @default 5000 */
  timeout?: number;
  /** Time between reconnect attempts after the connection dropped, in ms. @default 1000 */
  reconnectPeriod?: number;
  /** Further mqtt.js options (credentials, TLS, client id, ...); the fields above win. */
  mqtt?: Partial<IClientOptions>;
  /** Where handler failures are reported. @default none (failures are dropped) */
  logger?: Logger;
}

const DEFAULTS = { url: "mqtt://127.0.0.1:1883", topicPrefix: "", timeout: 5000, reconnectPeriod: 1000 } as const;

/** `a.b.c` → `a/b/c`. */
export function toMqttTopic(topic: string, prefix = ""): string {
  return prefix + topic.replaceAll(".", "/");
}

/** `a/b/c` → `a.b.c`. */
export function fromMqttTopic(topic: string, prefix = ""): string {
  return (topic.startsWith(prefix) ? topic.slice(prefix.length) : topic).replaceAll("/", ".");
}

function checkTopic(topic: string): void {
  if (typeof topic !== "string" || topic === "" || /[/+#\u0000]/.test(topic) || topic.startsWith("$")) {
    throw errors.badRequest(ID, `invalid topic ${JSON.stringify(topic)}: no /, +, #, NUL or leading $`);
  }
}

function checkGroup(group: string): void {
  if (/[/+#\u0000]/.test(group)) throw errors.badRequest(ID, `invalid queue ${JSON.stringify(group)}: no /, +, # or NUL`);
}

/**
 * One MQTT subscription and the local handlers behind it. Each local subscribe sends the
 * SUBSCRIBE again with a new subscription identifier (replacing the server's subscription);
 * a handler only takes messages tagged with its identifier or a later one, so it never sees
 * a message the server routed before it subscribed.
 */
interface Entry {
  filter: string;
  group: string | undefined;
  handlers: { s: MqttSubscriber; since: number }[];
  ids: Set<number>;
  next: number;
}

class MqttSubscriber implements Subscriber {
  private done: Promise<void> | undefined;
  constructor(
    readonly topic: string,
    readonly queue: string | undefined,
    readonly handler: BrokerHandler,
    private readonly leave: (s: MqttSubscriber) => Promise<void>,
  ) {}

  unsubscribe(): Promise<void> {
    this.done ??= this.leave(this);
    return this.done;
  }
}

function mqttError(what: string, e: unknown): MicroError {
  if (isMicroError(e)) return e;
  const why = e instanceof Error ? e.message : String(e);
  return errors.serviceUnavailable(ID, `${what}: MQTT: ${why}`, e);
}

export class MqttBroker implements Broker {
  readonly name = "mqtt";
  private readonly opts: Required<Omit<MqttBrokerOptions, "logger" | "mqtt">> & Pick<MqttBrokerOptions, "logger" | "mqtt">;
  private client: MqttClient | undefined;
  private pending: Promise<MqttClient> | undefined;
  private closed = false;
  private nextId = 1;
  /** By MQTT filter. */
  private readonly entries = new Map<string, Entry>();
  /** By subscription identifier. */
  private readonly byId = new Map<number, Entry>();

  constructor(o: MqttBrokerOptions = {}) {
    const opts = { ...DEFAULTS, ...o };
    if (typeof opts.url !== "string" || !/^(mqtts?|wss?):\/\//.test(opts.url)) throw errors.badRequest(ID, "url must be an mqtt://, mqtts://, ws:// or wss:// URL");
    if (!(opts.timeout > 0)) throw errors.badRequest(ID, "timeout must be positive");
    if (/[+#\u0000]/.test(opts.topicPrefix)) throw errors.badRequest(ID, "topicPrefix may not contain +, # or NUL");
    this.opts = Object.freeze(opts);
  }

  /** The URL without its password. */
  get address(): string {
    try {
      const u = new URL(this.opts.url);
      if (u.password) u.password = "***";
      return u.toString().replace(/\/$/, "");
    } catch {
      return this.opts.url;
    }
  }

  private check(): void {
    if (this.closed) throw errors.serviceUnavailable(ID, `${ID} closed`);
  }

  private connection(): Promise<MqttClient> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(ID, `${ID} closed`));
    if (this.client) return Promise.resolve(this.client);
    this.pending ??= this.dial().then(
      (c) => {
        this.pending = undefined;
        if (this.closed) {
          c.end(true);
          throw errors.serviceUnavailable(ID, `${ID} closed`);
        }
        this.client = c;
        return c;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  private dial(): Promise<MqttClient> {
    const t = this.opts.timeout;
    const c = connect(this.opts.url, {
      clientId: `micro-${randomUUID()}`,
      ...this.opts.mqtt,
      protocolVersion: 5,
      clean: true,
      connectTimeout: t,
      reconnectPeriod: this.opts.reconnectPeriod,
      resubscribe: true,
    });
    return new Promise<MqttClient>((resolve, reject) => {
      let lastError: unknown;
      const fail = (why: unknown): void => {
        cleanup();
        c.end(true);
        const msg = why instanceof Error ? why.message : String(why);
        reject(errors.serviceUnavailable(ID, `cannot connect to MQTT at ${this.address}: ${msg}`, why));
      };
      const onError = (e: Error): void => {
        lastError = e;
      };
      const onClose = (): void => fail(lastError ?? new Error("connection closed"));
      const timer = setTimeout(() => fail(lastError ?? new Error(`no answer within ${t} ms`)), t);
      const cleanup = (): void => {
        clearTimeout(timer);
        c.off("error", onError);
        c.off("close", onClose);
        c.off("connect", onConnect);
      };
      const onConnect = (): void => {
        cleanup();
        c.on("error", (e) => this.opts.logger?.error("broker: MQTT error", { error: e }));
        c.on("message", (_topic, payload, packet) => this.dispatch(payload, packet));
        resolve(c);
      };
      c.on("error", onError);
      c.on("close", onClose);
      c.on("connect", onConnect);
    });
  }

  async connect(): Promise<void> {
    await this.connection();
  }

  async publish(topic: string, msg: BrokerMessage, o: BrokerPublishOptions = {}): Promise<void> {
    this.check();
    checkTopic(topic);
    o.signal?.throwIfAborted();
    const c = await this.connection();
    try {
      // An empty user-properties list makes the client never send the packet: leave it out.
      const props = Object.keys(msg.header).length > 0 ? { properties: { userProperties: { ...msg.header } } } : {};
      await c.publishAsync(toMqttTopic(topic, this.opts.topicPrefix), Buffer.from(msg.body), { qos: 1, ...props });
    } catch (e) {
      throw mqttError(`publish to ${topic}`, e);
    }
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    this.check();
    checkTopic(topic);
    const group = o.queue || undefined;
    if (group) checkGroup(group);
    const c = await this.connection();
    const mqttTopic = toMqttTopic(topic, this.opts.topicPrefix);
    const filter = group ? `$share/${group}/${mqttTopic}` : mqttTopic;
    let entry = this.entries.get(filter);
    if (!entry) {
      entry = { filter, group, handlers: [], ids: new Set(), next: 0 };
      this.entries.set(filter, entry);
    }
    const e = entry;
    const id = this.nextId++;
    e.ids.add(id);
    this.byId.set(id, e);
    const s = new MqttSubscriber(topic, group, handler, (x) => this.leave(e, x));
    try {
      // `resubscribe` makes mqtt.js send the SUBSCRIBE even though it has the filter already.
      const sub = { qos: 1, nl: false, rap: false, rh: 0, properties: { subscriptionIdentifier: id } } as const;
      const granted = await c.subscribeAsync({ [filter]: sub, resubscribe: true } as ISubscriptionMap, sub);
      if (granted.some((g) => g.qos === 128)) throw new Error(`the server refused the subscription ${filter}`);
    } catch (err) {
      await this.leave(e, s);
      throw mqttError(`subscribe to ${topic}`, err);
    }
    if (this.closed || this.entries.get(filter) !== e) throw errors.serviceUnavailable(ID, `${ID} closed`);
    e.handlers.push({ s, since: id });
    return s;
  }

  private async leave(entry: Entry, s: MqttSubscriber): Promise<void> {
    const i = entry.handlers.findIndex((h) => h.s === s);
    if (i >= 0) entry.handlers.splice(i, 1);
    if (entry.handlers.length > 0 || this.entries.get(entry.filter) !== entry) return;
    this.entries.delete(entry.filter);
    for (const id of entry.ids) this.byId.delete(id);
    const c = this.client;
    if (c && c.connected) await c.unsubscribeAsync(entry.filter).catch(() => undefined);
  }

  private dispatch(payload: Buffer, packet: IPublishPacket): void {
    const ids = packet.properties?.subscriptionIdentifier;
    const list = ids === undefined ? [] : Array.isArray(ids) ? ids : [ids];
    const header: Record<string, string> = {};
    for (const [k, v] of Object.entries(packet.properties?.userProperties ?? {})) {
      header[k] = Array.isArray(v) ? v.join(",") : String(v);
    }
    const topic = fromMqttTopic(packet.topic, this.opts.topicPrefix);
    const body = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    const done = new Set<Entry>();
    for (const id of list) {
      const entry = this.byId.get(id);
      if (!entry || done.has(entry)) continue;
      done.add(entry);
      const eligible = entry.handlers.filter((h) => h.since <= id);
      if (eligible.length === 0) continue;
      const targets = entry.group ? [eligible[entry.next++ % eligible.length]!] : eligible;
      for (const t of targets) this.run(t.s, { topic, header: { ...header }, body });
    }
  }

  private run(s: MqttSubscriber, ev: BrokerEvent): void {
    const fail = (e: unknown): void => this.opts.logger?.error("broker: handler failed", { topic: ev.topic, error: e });
    try {
      const r = s.handler(ev);
      if (r && typeof r.then === "function") r.then(undefined, fail);
    } catch (e) {
      fail(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.entries.clear();
    this.byId.clear();
    const c = this.client ?? (await this.pending?.catch(() => undefined));
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
  }
}

/** A Broker on MQTT 5: `new Service({ broker: mqttBroker({ url: "mqtt://127.0.0.1:1883" }) })`. */
export function mqttBroker(opts: MqttBrokerOptions = {}): MqttBroker {
  return new MqttBroker({ ...opts });
}
