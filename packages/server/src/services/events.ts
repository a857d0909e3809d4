/**
 * The `events` core service: an Events stream (the file event log under the data dir) behind
 * `Events.Publish/Read/Topics`, the streaming `Events.Consume`, and `Events.Ack/Nack/Stop`
 * naming a consumer. The server always consumes with manual acks; the client does autoAck.
 * serviceEvents() in the core is its client.
 */
import { errors, type ConsumeOptions, type Consumer, type Context, type Event, type Events } from "@micro-ts/micro";
import { fromBase64, Queue, READY, toBase64 } from "./queue.js";

export interface WireEvent {
  id: string;
  topic: string;
  payload?: unknown;
  bytes?: string;
  timestamp: number;
  metadata: Record<string, string>;
  sequence: number;
  deliveries: number;
}

function toWire(e: Event): WireEvent {
  const body = e.payload instanceof Uint8Array ? { bytes: toBase64(e.payload) } : { payload: e.payload };
  return {
    id: e.id,
    topic: e.topic,
    ...body,
    timestamp: e.timestamp.getTime(),
    metadata: { ...e.metadata },
    sequence: e.sequence,
    deliveries: e.deliveries,
  };
}

type WireOffset = "latest" | "earliest" | number | { date: number };

interface Live {
  consumer: Consumer;
  /** The latest delivery of each event not yet acked, by event id. */
  pending: Map<string, Event>;
}

export class EventsHandler {
  private readonly live = new Map<string, Live>();
  private readonly streams = new Set<Queue<WireEvent>>();

  constructor(private readonly events: Events) {}

  async publish(req: { topic?: string; payload?: unknown; bytes?: string; metadata?: Record<string, string>; timestamp?: number }): Promise<{ id: string }> {
    const payload = typeof req.bytes === "string" ? fromBase64(req.bytes) : req.payload;
    const o = { ...(req.metadata ? { metadata: req.metadata } : {}), ...(typeof req.timestamp === "number" ? { timestamp: req.timestamp } : {}) };
    return { id: await this.events.publish(req.topic ?? "", payload, o) };
  }

  async read(req: { topic?: string; limit?: number; offset?: number }): Promise<{ events: WireEvent[] }> {
    if (!req.topic) throw errors.badRequest("micro.events", "topic is required");
    const o = { ...(req.limit !== undefined ? { limit: req.limit } : {}), ...(req.offset !== undefined ? { offset: req.offset } : {}) };
    return { events: (await this.events.read(req.topic, o)).map(toWire) };
  }

  async topics(): Promise<{ topics: string[] }> {
    return { topics: await this.events.topics() };
  }

  /** `{ ready: true }` once the consumer's position is fixed, then its events. */
  async *consume(
    req: { id?: string; topic?: string; group?: string; offset?: WireOffset; ackWait?: number; retryLimit?: number },
    ctx: Context,
  ): AsyncGenerator<WireEvent | typeof READY> {
    if (!req.id || !req.topic) throw errors.badRequest("micro.events", "id and topic are required");
    const o: ConsumeOptions = { autoAck: false };
    if (req.group) o.group = req.group;
    if (req.offset !== undefined && req.offset !== null) o.offset = typeof req.offset === "object" ? new Date(req.offset.date) : req.offset;
    if (req.ackWait !== undefined) o.ackWait = req.ackWait;
    if (req.retryLimit !== undefined) o.retryLimit = req.retryLimit;
    const consumer = this.events.consume(req.topic, o);
    const live: Live = { consumer, pending: new Map() };
    this.live.get(req.id)?.consumer.stop().catch(() => {});
    this.live.set(req.id, live);
    const out = new Queue<WireEvent>().endOn(ctx.signal);
    this.streams.add(out);
    void (async () => {
      try {
        for await (const e of consumer) {
          live.pending.set(e.id, e);
          out.push(toWire(e));
        }
      } catch {
        // the log closed under us: the stream ends and the client reconnects
      } finally {
        out.end();
      }
    })();
    try {
      yield READY;
      yield* out;
    } finally {
      this.streams.delete(out);
      if (this.live.get(req.id) === live) this.live.delete(req.id);
      await consumer.stop();
    }
  }

  async ack(req: { consumer?: string; id?: string }): Promise<Record<string, never>> {
    await this.settle(req, (e) => e.ack());
    return {};
  }

  async nack(req: { consumer?: string; id?: string }): Promise<Record<string, never>> {
    await this.settle(req, (e) => e.nack());
    return {};
  }

  /** Stops a consumer: its unacked events go back to its group before this returns. */
  async stop(req: { consumer?: string }): Promise<Record<string, never>> {
    const l = req.consumer ? this.live.get(req.consumer) : undefined;
    if (l) {
      this.live.delete(req.consumer!);
      await l.consumer.stop();
    }
    return {};
  }

  /** Ends every consume stream (server shutdown); unacked events stay with their groups. */
  close(): void {
    for (const q of this.streams) q.end();
  }

  private async settle(req: { consumer?: string; id?: string }, fn: (e: Event) => Promise<void>): Promise<void> {
    const l = req.consumer ? this.live.get(req.consumer) : undefined;
    const e = l && req.id ? l.pending.get(req.id) : undefined;
    if (!l || !e) return;
    l.pending.delete(req.id!);
    await fn(e);
  }
}
