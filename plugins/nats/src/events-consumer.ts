/**
 * One member of a consumer group on JetStream.
 *
 * Each member pulls one event at a time, only when its loop asks for the next one (a pull
 * request with batch 1 to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`), so an event is
 * never parked in a member that is not asking while another member waits. The group is a
 * pull consumer with explicit acks, `ack_wait = ackWait` and `max_deliver = retryLimit + 1`.
 *
 * Dead letters: JetStream has none, so on a nack of the final allowed delivery (delivery
 * count taken from the message's ack subject) the member publishes the event to
 * `<topic>.dead` and terminates it. When the final delivery is never acked, the server
 * gives up silently and only emits a MAX_DELIVERIES advisory: every member listens for it
 * and dead-letters the event then. Both paths publish with the msg id
 * `dead:<stream>:<consumer>:<seq>`, so JetStream's duplicate window keeps one copy.
 */
import { randomUUID } from "node:crypto";
import { errors, type ConsumeOptions, type Consumer, type Event } from "@micro-ts/micro";
import { AckPolicy, DeliverPolicy, createInbox, type ConsumerConfig, type Msg, type NatsConnection, type Subscription } from "nats";
import { decodeEvent, ID } from "./events-codec.js";
import type { EventsHost } from "./events.js";
import { encodeName } from "./names.js";
import { natsError } from "./connection.js";

const ns = (n: number): number => Math.round(n * 1_000_000);
/** Pause before pulling again after the server refused a pull (restarting, consumer busy). */
const RETRY_PULL_MS = 250;
/** Ephemeral (group-less) consumers are removed by the server this long after their process vanished. */
const EPHEMERAL_INACTIVE_MS = 5 * 60_000;

interface Delivery {
  reply: string;
  seq: number;
  deliveries: number;
  settled: Promise<void> | undefined;
}

/** Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (and its v2 form with domain and account). */
export function parseAckSubject(reply: string): { deliveries: number; seq: number; ts: number } | undefined {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return undefined;
  const base = t.length === 9 ? 4 : t.length >= 11 ? 6 : -1;
  if (base < 0) return undefined;
  const deliveries = Number(t[base]);
  const seq = Number(t[base + 1]);
  const ts = Number(t[base + 3]) / 1_000_000;
  if (!Number.isFinite(deliveries) || !Number.isFinite(seq)) return undefined;
  return { deliveries, seq, ts };
}

export class NatsConsumer implements Consumer {
  readonly ready: Promise<void>;
  private readonly stream: string;
  private readonly name: string;
  private readonly ephemeral: boolean;
  private readonly autoAck: boolean;
  private readonly ackWait: number;
  private readonly retryLimit: number;
  private nc: NatsConnection | undefined;
  private inbox: Subscription | undefined;
  private advisory: Subscription | undefined;
  private readonly buffer: Msg[] = [];
  private waiter: ((m: Msg | undefined) => void) | undefined;
  private pulling = false;
  private pullTimer: NodeJS.Timeout | undefined;
  private readonly unacked = new Map<number, Delivery>();
  private lastAuto: Delivery | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private readonly onAbort = (): void => void this.stop();

  constructor(
    private readonly host: EventsHost,
    private readonly topic: string,
    private readonly o: ConsumeOptions,
  ) {
    this.ackWait = o.ackWait ?? 30_000;
    this.retryLimit = o.retryLimit ?? 3;
    if (!(this.ackWait > 0)) throw errors.badRequest(ID, "ackWait must be positive");
    if (!Number.isInteger(this.retryLimit) || this.retryLimit < 0) throw errors.badRequest(ID, "retryLimit must be a non-negative integer");
    this.autoAck = o.autoAck ?? true;
    this.stream = host.streamOf(topic);
    this.ephemeral = !o.group;
    this.name = o.group ? encodeName(o.group) : `micro-${randomUUID()}`;
    this.ready = this.setup();
    // Surface setup failures through next(), never as an unhandled rejection.
    this.ready.catch(() => undefined);
    if (o.signal?.aborted) void this.stop();
    else o.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  private async setup(): Promise<void> {
    const nc = await this.host.nc();
    this.nc = nc;
    await this.host.ensureStream(this.topic);
    const jsm = await this.host.jsm();
    const existing = this.ephemeral ? undefined : await jsm.consumers.info(this.stream, this.name).catch(() => undefined);
    if (!existing) {
      const cfg: Partial<ConsumerConfig> = {
        ...(await this.startPolicy()),
        ack_policy: AckPolicy.Explicit,
        ack_wait: ns(this.ackWait),
        max_deliver: this.retryLimit + 1,
        description: `micro events ${this.ephemeral ? "consumer" : `group ${this.o.group}`} on ${this.topic}`,
      };
      if (this.ephemeral) Object.assign(cfg, { name: this.name, inactive_threshold: ns(Math.max(EPHEMERAL_INACTIVE_MS, this.ackWait * 2)) });
      else cfg.durable_name = this.name;
      try {
        await jsm.consumers.add(this.stream, cfg);
      } catch (e) {
        // Another member created the group first: join it.
        if (this.ephemeral || !(await jsm.consumers.info(this.stream, this.name).catch(() => undefined))) {
          throw natsError(ID, `creating consumer ${this.name} on ${this.stream}`, e);
        }
      }
    }
    if (this.stopped) return;
    this.inbox = nc.subscribe(createInbox(), { callback: (_err, m) => this.onMessage(m) });
    this.advisory = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.stream}.${this.name}`, {
      callback: (_err, m) => void this.onMaxDeliveries(m),
    });
    await nc.flush();
  }

  /** Where a new group starts: JetStream deliver policies for latest, earliest and a count. */
  private async startPolicy(): Promise<Partial<ConsumerConfig>> {
    const off = this.o.offset ?? "latest";
    if (off === "latest") return { deliver_policy: DeliverPolicy.New };
    if (off === "earliest" || off === 0) return { deliver_policy: DeliverPolicy.All };
    if (typeof off === "number") {
      if (!Number.isInteger(off) || off < 0) throw errors.badRequest(ID, "offset must be a non-negative integer");
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: off + 1 };
    }
    if (!(off instanceof Date) || Number.isNaN(off.getTime())) throw errors.badRequest(ID, "invalid offset");
    // Event time is the publisher's Micro-Timestamp, not the server's receive time that
    // DeliverPolicy.StartTime uses: find the first event stamped at or after it.
    const st = await this.host.streamState(this.topic);
    if (!st || st.last === 0) return { deliver_policy: DeliverPolicy.New };
    for await (const m of this.host.scan(this.topic, st.first, st.last)) {
      const d = decodeEvent(m.header, m.data, "", m.time);
      if (d.timestamp.getTime() >= off.getTime()) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: m.seq };
    }
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: st.last + 1 };
  }

  /** Asks the server for one event, unless a pull is already pending. */
  private pull(): void {
    if (this.pulling || this.stopped || !this.nc || !this.inbox) return;
    this.pulling = true;
    const expires = this.host.opts.pullExpires;
    try {
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.name}`, JSON.stringify({ batch: 1, expires: ns(expires) }), {
        reply: this.inbox.getSubject(),
      });
    } catch (e) {
      this.host.opts.logger?.warn("events: pull failed", { topic: this.topic, error: e });
    }
    // A pull can vanish with the server (restart): renew it when no answer came in time.
    clearTimeout(this.pullTimer);
    this.pullTimer = setTimeout(() => this.repull(), expires + 1000);
  }

  /** Forgets the pending pull and pulls again if the loop is waiting (after a reconnect). */
  repull(): void {
    clearTimeout(this.pullTimer);
    this.pulling = false;
    if (this.waiter) this.pull();
  }

  private onMessage(m: Msg): void {
    const code = m.headers?.code ?? 0;
    if (code !== 0 && m.data.length === 0 && !m.reply) {
      if (code === 100) return; // idle heartbeat
      clearTimeout(this.pullTimer);
      this.pulling = false;
      if (!this.waiter) return;
      // 404/408: the pull expired empty; others (409, 503 while the server restarts): back off.
      if (code === 404 || code === 408) this.pull();
      else this.pullTimer = setTimeout(() => this.repull(), RETRY_PULL_MS);
      return;
    }
    clearTimeout(this.pullTimer);
    this.pulling = false;
    if (this.stopped) {
      // Arrived after stop: hand it straight back to the group.
      if (m.reply) m.respond("-NAK");
      return;
    }
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(m);
    } else this.buffer.push(m);
  }

  private async onMaxDeliveries(m: Msg): Promise<void> {
    try {
      const a = JSON.parse(new TextDecoder().decode(m.data)) as { stream_seq?: number; deliveries?: number };
      if (typeof a.stream_seq !== "number") return;
      const sm = await this.host.getMessage(this.stream, a.stream_seq);
      if (!sm) return;
      const d = decodeEvent(sm.header, sm.data, `${sm.seq}`, sm.time);
      await this.host.publishDead(this.topic, d, sm.seq, a.deliveries ?? this.retryLimit + 1, this.deadId(sm.seq));
    } catch (e) {
      this.host.opts.logger?.error("events: dead-lettering failed", { topic: this.topic, error: e });
    }
  }

  private deadId(seq: number): string {
    return `dead:${this.stream}:${this.name}:${seq}`;
  }

  private waitForMessage(): Promise<Msg | undefined> {
    const m = this.buffer.shift();
    if (m) return Promise.resolve(m);
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.pull();
    });
  }

  private async next(): Promise<IteratorResult<Event>> {
    await this.ackLast();
    if (this.stopped) return { value: undefined, done: true };
    await this.ready;
    for (;;) {
      const m = await this.waitForMessage();
      if (!m) return { value: undefined, done: true };
      const info = m.reply ? parseAckSubject(m.reply) : undefined;
      if (!info || !m.reply) continue; // not a JetStream delivery
      const d = decodeEvent(m.headers, m.data, `${info.seq}`, new Date(info.ts));
      const dl: Delivery = { reply: m.reply, seq: info.seq, deliveries: info.deliveries, settled: undefined };
      this.unacked.set(info.seq, dl);
      const ev: Event = {
        ...d,
        topic: this.topic,
        sequence: info.seq,
        deliveries: info.deliveries,
        ack: () => this.ack(dl),
        nack: () => this.nack(dl, d),
      };
      if (this.autoAck) this.lastAuto = dl;
      return { value: ev, done: false };
    }
  }

  private async ackLast(): Promise<void> {
    const last = this.lastAuto;
    this.lastAuto = undefined;
    if (last) await this.ack(last).catch((e: unknown) => this.host.opts.logger?.warn("events: auto-ack failed", { topic: this.topic, error: e }));
  }

  /** Acks and waits for the server's confirmation, so the group's position is recorded. */
  private ack(dl: Delivery): Promise<void> {
    dl.settled ??= (async () => {
      this.unacked.delete(dl.seq);
      const nc = this.nc!;
      try {
        await nc.request(dl.reply, "+ACK", { timeout: this.host.opts.requestTimeout });
      } catch (e) {
        throw natsError(ID, `ack of ${this.topic} #${dl.seq}`, e);
      }
    })();
    return dl.settled;
  }

  private nack(dl: Delivery, d: ReturnType<typeof decodeEvent>): Promise<void> {
    dl.settled ??= (async () => {
      this.unacked.delete(dl.seq);
      const nc = this.nc!;
      try {
        if (dl.deliveries > this.retryLimit) {
          await this.host.publishDead(this.topic, d, dl.seq, dl.deliveries, this.deadId(dl.seq));
          await nc.request(dl.reply, "+TERM", { timeout: this.host.opts.requestTimeout });
        } else {
          nc.publish(dl.reply, "-NAK");
          await nc.flush();
        }
      } catch (e) {
        throw natsError(ID, `nack of ${this.topic} #${dl.seq}`, e);
      }
    })();
    return dl.settled;
  }

  /** Ends the loop; the events this member holds unacked go back to the group at once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.o.signal?.removeEventListener("abort", this.onAbort);
      clearTimeout(this.pullTimer);
      const w = this.waiter;
      this.waiter = undefined;
      w?.(undefined);
      await this.ready.catch(() => undefined);
      const nc = this.nc;
      if (nc && !nc.isClosed()) {
        // The event in the loop's hands (autoAck) is acked when the loop moves on; the rest go back.
        for (const dl of this.unacked.values()) if (dl !== this.lastAuto && !dl.settled) nc.publish(dl.reply, "-NAK");
        for (const m of this.buffer.splice(0)) if (m.reply) m.respond("-NAK");
        this.advisory?.unsubscribe();
        // drain: an event the server sent before it saw the UNSUB still arrives, and is nacked.
        await this.inbox?.drain().catch(() => undefined);
        if (this.ephemeral) {
          const jsm = await this.host.jsm().catch(() => undefined);
          await jsm?.consumers.delete(this.stream, this.name).catch(() => undefined);
        }
        await nc.flush().catch(() => undefined);
      }
      this.host.forget(this);
    })();
    return this.stopping;
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.ackLast();
        await this.stop();
        return { value: undefined, done: true };
      },
    };
  }
}
