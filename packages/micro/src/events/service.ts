/**
 * Events served by the `events` core service of a `micro server`. A consumer is a stream the
 * server pushes events into; acks and nacks are calls naming the consumer and the event.
 * autoAck is done here (ack the previous event when the loop asks for the next), so the server
 * always consumes with manual acks. A consumer whose stream breaks (server restart) reopens it:
 * a named group continues from its acked position, an unnamed one after the last event seen.
 */
import { randomUUID } from "node:crypto";
import { badRequest, serviceUnavailable } from "../errors/errors.js";
import { AsyncQueue } from "../util/watcher.js";
import { fromBase64, keepStream, Remote, toBase64, type RemoteOptions } from "../util/remote.js";
import type { ConsumeOptions, Consumer, Event, Events, Payload, PublishOptions, ReadOptions } from "./events.js";

export type ServiceEventsOptions = RemoteOptions;

export const EVENTS_SERVICE = "events";

/** An event on the wire: the payload as JSON (`payload`) or base64 (`bytes`). */
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

export function payloadToWire(p: Payload): { payload?: unknown; bytes?: string } {
  if (p instanceof Uint8Array) return { bytes: toBase64(p) };
  let text: string | undefined;
  try {
    text = JSON.stringify(p);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw badRequest("micro.events", "payload must be JSON or bytes");
  return { payload: p };
}

export function payloadFromWire(w: { payload?: unknown; bytes?: string }): Payload {
  return w.bytes !== undefined ? fromBase64(w.bytes) : w.payload;
}

type WireOffset = "latest" | "earliest" | number | { date: number };

function offsetToWire(o: ConsumeOptions["offset"]): WireOffset | undefined {
  return o instanceof Date ? { date: o.getTime() } : o;
}

class ServiceEvents implements Events {
  private readonly remote: Remote;
  private readonly consumers = new Set<Consumer>();
  /** Consumers not yet confirmed: publish and stop wait for them ("consume starts at once"). */
  private readonly opening = new Set<Promise<void>>();

  constructor(opts: ServiceEventsOptions) {
    this.remote = new Remote(EVENTS_SERVICE, opts);
  }

  async settled(): Promise<void> {
    if (this.opening.size > 0) await Promise.all([...this.opening].map((p) => p.catch(() => {})));
  }

  async publish(topic: string, payload: Payload, o: PublishOptions = {}): Promise<string> {
    if (this.remote.isClosed) throw this.remote.closedError();
    const body = { topic, ...payloadToWire(payload), metadata: o.metadata ?? {}, timestamp: o.timestamp === undefined ? undefined : new Date(o.timestamp).getTime() };
    await this.settled();
    return (await this.remote.call<{ id: string }>("Events.Publish", body)).id;
  }

  async read(topic: string, o: ReadOptions = {}): Promise<Event[]> {
    const rsp = await this.remote.call<{ events: WireEvent[] }>("Events.Read", { topic, ...o });
    return rsp.events.map((w) => this.event(w, undefined));
  }

  async topics(): Promise<string[]> {
    return (await this.remote.call<{ topics: string[] }>("Events.Topics", {})).topics;
  }

  private event(w: WireEvent, consumer: string | undefined): Event {
    const call = (ep: string) => async () => {
      if (consumer) await this.remote.call(ep, { consumer, id: w.id }).catch(() => {});
    };
    return {
      id: w.id,
      topic: w.topic,
      payload: payloadFromWire(w),
      timestamp: new Date(w.timestamp),
      metadata: w.metadata,
      sequence: w.sequence,
      deliveries: w.deliveries,
      ack: onceAsync(call("Events.Ack")),
      nack: onceAsync(call("Events.Nack")),
    };
  }

  consume(topic: string, o: ConsumeOptions = {}): Consumer {
    const id = randomUUID();
    const autoAck = o.autoAck ?? true;
    const queue = new AsyncQueue<Event>();
    let lastSeq: number | undefined;
    let previous: Event | undefined;
    let stopping: Promise<void> | undefined;
    if (this.remote.isClosed) queue.end();
    const kept = keepStream<WireEvent>(this.remote, "Events.Consume", {
      request: () => ({
        id,
        topic,
        ...(o.group !== undefined ? { group: o.group } : {}),
        // An unnamed group lives as long as its stream: after a reconnect, resume after the last event seen.
        offset: o.group === undefined && lastSeq !== undefined ? lastSeq : offsetToWire(o.offset),
        ...(o.ackWait !== undefined ? { ackWait: o.ackWait } : {}),
        ...(o.retryLimit !== undefined ? { retryLimit: o.retryLimit } : {}),
      }),
      onItem: (w) => {
        lastSeq = Math.max(lastSeq ?? 0, w.sequence);
        queue.push(this.event(w, id));
      },
      onEnd: () => queue.end(),
    });
    const opening = kept.ready;
    this.opening.add(opening);
    void opening.then(
      () => this.opening.delete(opening),
      () => this.opening.delete(opening),
    );
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        this.consumers.delete(consumer);
        const last = previous;
        previous = undefined;
        if (autoAck && last) await last.ack();
        await this.settled();
        // The server hands this consumer's unacked events back to its group before we return.
        await this.remote.call("Events.Stop", { consumer: id }).catch(() => {});
        kept.stop();
        queue.end();
      })();
      return stopping;
    };
    const iterator: AsyncIterator<Event> = {
      next: async () => {
        if (autoAck && previous) {
          const p = previous;
          previous = undefined;
          await p.ack();
        }
        const r = await queue.next();
        if (!r.done && autoAck) previous = r.value;
        return r;
      },
      return: async () => {
        await stop();
        return { value: undefined, done: true };
      },
    };
    o.signal?.addEventListener("abort", () => void stop(), { once: true });
    if (o.signal?.aborted) void stop();
    const consumer: Consumer = { stop, [Symbol.asyncIterator]: () => iterator };
    this.consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    if (this.remote.isClosed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.remote.close();
  }
}

function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

export function serviceEvents(opts: ServiceEventsOptions): Events {
  if (!opts) throw serviceUnavailable("micro.events", "serviceEvents needs the server's address");
  return new ServiceEvents(opts);
}
