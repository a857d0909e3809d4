/**
 * The stream semantics shared by the in-process implementations (memory, file): topic logs,
 * consumer groups, acks, redelivery, dead letters. Where events and group positions live is
 * the `EventStore`'s business; this file never touches a disk.
 */
import { randomUUID } from "node:crypto";
import { badRequest, serviceUnavailable } from "../errors/errors.js";
import type { Logger } from "../logger/logger.js";
import {
  DEAD_LETTER_SUFFIX,
  type ConsumeOptions,
  type Consumer,
  type Event,
  type Events,
  type PublishOptions,
  type ReadOptions,
} from "./events.js";

/** An event as stored: the payload kept encoded so nobody can mutate it after publish. */
export interface StoredEvent {
  id: string;
  ts: number;
  md: Record<string, string>;
  /** "j": `data` is JSON text; "b": `data` is bytes. */
  kind: "j" | "b";
  data: string | Uint8Array;
}

/** A group's durable position: events [0, floor) are acked, plus `acked` positions above it. */
export interface GroupState {
  floor: number;
  acked: number[];
}

export interface EventStore {
  /** Stores one event; resolves once durable. Calls resolve in the order they were made. */
  append(topic: string, e: StoredEvent): Promise<void>;
  loadGroup(topic: string, group: string): GroupState | undefined;
  /** Records a group's state; resolves once durable. A later call's state always wins over an earlier one's. */
  saveGroup(topic: string, group: string, s: GroupState): Promise<void>;
  close(): Promise<void>;
}

const ID = "micro.events";

export function encodePayload(p: unknown): Pick<StoredEvent, "kind" | "data"> {
  if (p instanceof Uint8Array) return { kind: "b", data: new Uint8Array(p) };
  let text: string | undefined;
  try {
    text = JSON.stringify(p);
  } catch (e) {
    throw badRequest(ID, `payload is not JSON: ${(e as Error).message}`, e);
  }
  if (text === undefined) throw badRequest(ID, "payload is not JSON or bytes");
  return { kind: "j", data: text };
}

function decodePayload(e: StoredEvent): unknown {
  return e.kind === "b" ? new Uint8Array(e.data as Uint8Array) : JSON.parse(e.data as string);
}

const noop = () => Promise.resolve();

function makeEvent(topic: string, e: StoredEvent, pos: number, deliveries: number, ack = noop, nack = noop): Event {
  return {
    id: e.id,
    topic,
    payload: decodePayload(e),
    timestamp: new Date(e.ts),
    metadata: { ...e.md },
    sequence: pos + 1,
    deliveries,
    ack,
    nack,
  };
}

interface Pending {
  member: Member;
  timer: NodeJS.Timeout;
}

class Member {
  waiter: ((e: Event | undefined) => void) | undefined;
  lastAuto: Event | undefined;
  stopped = false;
  constructor(
    readonly ackWait: number,
    readonly retryLimit: number,
    readonly autoAck: boolean,
  ) {}
}

class Group {
  readonly acked = new Set<number>();
  readonly pending = new Map<number, Pending>();
  readonly deliveries = new Map<number, number>();
  retry: number[] = [];
  readonly members = new Set<Member>();
  waiters: Member[] = [];
  cursor: number;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    readonly engine: Engine,
    readonly topic: string,
    readonly name: string,
    readonly durable: boolean,
    public floor: number,
    acked: number[],
  ) {
    for (const a of acked) if (a >= floor) this.acked.add(a);
    this.cursor = floor;
  }

  save(): Promise<void> {
    if (!this.durable) return Promise.resolve();
    const state: GroupState = { floor: this.floor, acked: [...this.acked].sort((a, b) => a - b) };
    // The store keeps saves in call order, so an older state never lands after a newer one.
    const p = this.engine.store.saveGroup(this.topic, this.name, state);
    this.saving = p.catch((e: unknown) => this.engine.log?.error("events: saving group failed", { topic: this.topic, group: this.name, error: e }));
    return p;
  }

  private take(): number | undefined {
    const r = this.retry.shift();
    if (r !== undefined) return r;
    const log = this.engine.log_(this.topic);
    while (this.cursor < log.length) {
      const pos = this.cursor++;
      if (pos >= this.floor && !this.acked.has(pos) && !this.pending.has(pos)) return pos;
    }
    return undefined;
  }

  dispatch(): void {
    while (this.waiters.length > 0) {
      const pos = this.take();
      if (pos === undefined) return;
      const m = this.waiters.shift()!;
      const w = m.waiter!;
      m.waiter = undefined;
      w(this.deliver(pos, m));
    }
  }

  private deliver(pos: number, m: Member): Event {
    const n = (this.deliveries.get(pos) ?? 0) + 1;
    this.deliveries.set(pos, n);
    const timer = setTimeout(() => this.fail(pos), m.ackWait);
    timer.unref();
    this.pending.set(pos, { member: m, timer });
    const stored = this.engine.log_(this.topic)[pos]!;
    return makeEvent(this.topic, stored, pos, n, () => this.ack(pos), () => this.nack(pos, m));
  }

  ack(pos: number): Promise<void> {
    if (pos < this.floor || this.acked.has(pos)) return this.saving;
    const p = this.pending.get(pos);
    if (p) clearTimeout(p.timer);
    this.pending.delete(pos);
    this.retry = this.retry.filter((r) => r !== pos);
    this.deliveries.delete(pos);
    this.acked.add(pos);
    while (this.acked.delete(this.floor)) this.floor++;
    return this.save();
  }

  private nack(pos: number, m: Member): Promise<void> {
    const p = this.pending.get(pos);
    if (!p || p.member !== m) return Promise.resolve();
    clearTimeout(p.timer);
    return this.fail(pos);
  }

  /** A delivery failed (nack or ackWait passed): redeliver, or park in the dead-letter topic. */
  private fail(pos: number): Promise<void> {
    const p = this.pending.get(pos);
    if (!p) return Promise.resolve();
    this.pending.delete(pos);
    const n = this.deliveries.get(pos) ?? 1;
    if (n > p.member.retryLimit) return this.bury(pos, n);
    this.requeue(pos);
    return Promise.resolve();
  }

  private async bury(pos: number, n: number): Promise<void> {
    const e = this.engine.log_(this.topic)[pos]!;
    const md = { ...e.md, "dead-topic": this.topic, "dead-id": e.id, "dead-sequence": String(pos + 1), "dead-deliveries": String(n) };
    try {
      await this.engine.append(this.topic + DEAD_LETTER_SUFFIX, { ...e, id: randomUUID(), md });
      await this.ack(pos);
    } catch (err) {
      this.engine.log?.error("events: dead-lettering failed", { topic: this.topic, error: err });
      this.requeue(pos);
    }
  }

  requeue(pos: number): void {
    if (this.acked.has(pos) || pos < this.floor) return;
    this.retry.push(pos);
    this.retry.sort((a, b) => a - b);
    this.dispatch();
  }

  /** The member's loop asks for its next event. */
  next(m: Member): Promise<Event | undefined> {
    if (m.stopped) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      m.waiter = resolve;
      this.waiters.push(m);
      this.dispatch();
    });
  }

  leave(m: Member): void {
    m.stopped = true;
    this.members.delete(m);
    this.waiters = this.waiters.filter((w) => w !== m);
    m.waiter?.(undefined);
    m.waiter = undefined;
    // Its unacked events go back to the group at once, not after ackWait.
    for (const [pos, p] of [...this.pending]) {
      if (p.member !== m) continue;
      clearTimeout(p.timer);
      this.pending.delete(pos);
      this.requeue(pos);
    }
    if (!this.durable && this.members.size === 0) this.engine.dropGroup(this);
  }
}

export interface EngineOptions {
  store: EventStore;
  logger?: Logger;
  /** Events already stored, per topic (a durable store loads them on open). */
  logs?: Map<string, StoredEvent[]>;
}

/** The Events implementation over an EventStore. */
export class Engine implements Events {
  readonly store: EventStore;
  readonly log?: Logger;
  private readonly logs: Map<string, StoredEvent[]>;
  private readonly groups = new Map<string, Group>();
  private readonly consumers = new Set<() => Promise<void>>();
  private closed = false;

  constructor(o: EngineOptions) {
    this.store = o.store;
    if (o.logger) this.log = o.logger;
    this.logs = o.logs ?? new Map();
  }

  log_(topic: string): StoredEvent[] {
    let l = this.logs.get(topic);
    if (!l) this.logs.set(topic, (l = []));
    return l;
  }

  private check(topic: string): void {
    if (this.closed) throw serviceUnavailable(ID, "events closed");
    if (typeof topic !== "string" || topic === "") throw badRequest(ID, "topic is required");
  }

  async append(topic: string, e: StoredEvent): Promise<void> {
    await this.store.append(topic, e);
    // Visible only once stored, so no consumer ever sees an event a crash could lose.
    this.log_(topic).push(e);
    for (const g of this.groups.values()) if (g.topic === topic) g.dispatch();
  }

  async publish(topic: string, payload: unknown, o: PublishOptions = {}): Promise<string> {
    this.check(topic);
    const ts = o.timestamp === undefined ? Date.now() : new Date(o.timestamp).getTime();
    if (Number.isNaN(ts)) throw badRequest(ID, "invalid timestamp");
    const e: StoredEvent = { id: randomUUID(), ts, md: { ...(o.metadata ?? {}) }, ...encodePayload(payload) };
    await this.append(topic, e);
    return e.id;
  }

  private startOf(topic: string, offset: ConsumeOptions["offset"]): number {
    const log = this.log_(topic);
    if (offset === undefined || offset === "latest") return log.length;
    if (offset === "earliest") return 0;
    if (typeof offset === "number") {
      if (!Number.isInteger(offset) || offset < 0) throw badRequest(ID, "offset must be a non-negative integer");
      return Math.min(offset, log.length);
    }
    if (offset instanceof Date) {
      const t = offset.getTime();
      const i = log.findIndex((e) => e.ts >= t);
      return i < 0 ? log.length : i;
    }
    throw badRequest(ID, "invalid offset");
  }

  private group(topic: string, name: string | undefined, offset: ConsumeOptions["offset"]): Group {
    const durable = name !== undefined;
    const gname = name ?? `ephemeral-${randomUUID()}`;
    const key = `${topic}\u0000${gname}`;
    let g = this.groups.get(key);
    if (g) return g;
    const saved = durable ? this.store.loadGroup(topic, gname) : undefined;
    g = saved
      ? new Group(this, topic, gname, true, saved.floor, saved.acked)
      : new Group(this, topic, gname, durable, this.startOf(topic, offset), []);
    this.groups.set(key, g);
    // A new named group's start is recorded now, so a restart does not move it.
    if (!saved) void g.save().catch(() => undefined);
    return g;
  }

  dropGroup(g: Group): void {
    this.groups.delete(`${g.topic}\u0000${g.name}`);
  }

  consume(topic: string, o: ConsumeOptions = {}): Consumer {
    this.check(topic);
    const ackWait = o.ackWait ?? 30_000;
    const retryLimit = o.retryLimit ?? 3;
    if (!(ackWait > 0)) throw badRequest(ID, "ackWait must be positive");
    if (!Number.isInteger(retryLimit) || retryLimit < 0) throw badRequest(ID, "retryLimit must be a non-negative integer");
    const g = this.group(topic, o.group, o.offset);
    const m = new Member(ackWait, retryLimit, o.autoAck ?? true);
    g.members.add(m);
    const autoAck = () => {
      const last = m.lastAuto;
      m.lastAuto = undefined;
      if (last) void last.ack().catch(() => undefined);
    };
    const stop = (): Promise<void> => {
      if (!m.stopped) {
        this.consumers.delete(stop);
        g.leave(m);
        o.signal?.removeEventListener("abort", onAbort);
      }
      return Promise.resolve();
    };
    const onAbort = () => void stop();
    this.consumers.add(stop);
    if (o.signal?.aborted) void stop();
    else o.signal?.addEventListener("abort", onAbort, { once: true });
    return {
      stop,
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Event>> => {
          if (m.autoAck) autoAck();
          const e = await g.next(m);
          if (!e) return { value: undefined, done: true };
          if (m.autoAck) m.lastAuto = e;
          return { value: e, done: false };
        },
        return: async (): Promise<IteratorResult<Event>> => {
          if (m.autoAck) autoAck();
          await stop();
          return { value: undefined, done: true };
        },
      }),
    };
  }

  async read(topic: string, o: ReadOptions = {}): Promise<Event[]> {
    this.check(topic);
    const offset = o.offset ?? 0;
    const log = this.logs.get(topic) ?? [];
    const end = o.limit === undefined ? log.length : Math.min(log.length, offset + o.limit);
    const out: Event[] = [];
    for (let i = offset; i < end; i++) out.push(makeEvent(topic, log[i]!, i, 0));
    return out;
  }

  async topics(): Promise<string[]> {
    if (this.closed) throw serviceUnavailable(ID, "events closed");
    return [...this.logs].filter(([, l]) => l.length > 0).map(([t]) => t).sort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((s) => s()));
    for (const g of this.groups.values()) for (const p of g.pending.values()) clearTimeout(p.timer);
    await Promise.all([...this.groups.values()].map((g) => g.save().catch(() => undefined)));
    this.groups.clear();
    await this.store.close();
  }
}
