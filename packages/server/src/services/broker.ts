/**
 * The `broker` core service: routes `Broker.Publish` to the open `Broker.Subscribe` streams of
 * the topic, in this process: every fan-out subscriber, and one member (round-robin) of each
 * queue group. serviceBroker() in the core is its client.
 */
import { errors, type Broker, type Context, type Subscriber } from "@micro-ts/micro";
import { Queue, READY } from "./queue.js";

/** A message as it travels: the body in base64. */
export interface WireMessage {
  topic: string;
  header: Record<string, string>;
  body: string;
}

interface Sub {
  id: string;
  topic: string;
  queue: string | undefined;
  out: Queue<WireMessage>;
}

interface Topic {
  fanout: Set<Sub>;
  groups: Map<string, { members: Sub[]; next: number }>;
}

export class BrokerHandler {
  private readonly topics = new Map<string, Topic>();
  private readonly byId = new Map<string, Sub>();
  private readonly bridged = new Map<Sub, Promise<Subscriber>>();

  /**
   * @param engine a real broker (NATS, Redis, ...) to route through instead of this process
   *   (`micro server --broker nats`): publishes go to it, and each subscription stream is a
   *   subscription on it, so several servers share topics.
   */
  constructor(private readonly engine?: Broker) {}

  async publish(req: Partial<WireMessage>): Promise<Record<string, never>> {
    if (!req.topic || typeof req.topic !== "string") throw errors.badRequest("broker", "topic is required");
    const msg: WireMessage = { topic: req.topic, header: req.header ?? {}, body: req.body ?? "" };
    if (this.engine) {
      await this.engine.publish(msg.topic, { header: msg.header, body: Buffer.from(msg.body, "base64") });
      return {};
    }
    const t = this.topics.get(req.topic);
    if (!t) return {};
    for (const s of t.fanout) s.out.push(msg);
    for (const g of t.groups.values()) {
      if (g.members.length === 0) continue;
      g.next = g.next % g.members.length;
      g.members[g.next++]!.out.push(msg);
    }
    return {};
  }

  /** `{ ready: true }` once the subscription is live, then every message routed to it. */
  async *subscribe(req: { id?: string; topic?: string; queue?: string }, ctx: Context): AsyncGenerator<WireMessage | typeof READY> {
    if (!req.id || !req.topic) throw errors.badRequest("broker", "id and topic are required");
    const sub: Sub = { id: req.id, topic: req.topic, queue: req.queue || undefined, out: new Queue<WireMessage>().endOn(ctx.signal) };
    this.add(sub);
    try {
      // With an engine, ready means its subscription is live.
      await this.bridged.get(sub);
      yield READY;
      yield* sub.out;
    } finally {
      this.remove(sub);
    }
  }

  /** Removes a subscription at once (its stream then ends); unknown ids are fine. */
  async unsubscribe(req: { id?: string }): Promise<Record<string, never>> {
    const s = req.id ? this.byId.get(req.id) : undefined;
    if (s) this.remove(s);
    return {};
  }

  private add(s: Sub): void {
    this.byId.get(s.id)?.out.end();
    this.byId.set(s.id, s);
    if (this.engine) {
      const sub = this.engine.subscribe(
        s.topic,
        (ev) => s.out.push({ topic: ev.topic, header: ev.header, body: Buffer.from(ev.body).toString("base64") }),
        s.queue !== undefined ? { queue: s.queue } : {},
      );
      sub.catch(() => s.out.end());
      this.bridged.set(s, sub);
      return;
    }
    let t = this.topics.get(s.topic);
    if (!t) this.topics.set(s.topic, (t = { fanout: new Set(), groups: new Map() }));
    if (s.queue === undefined) t.fanout.add(s);
    else {
      let g = t.groups.get(s.queue);
      if (!g) t.groups.set(s.queue, (g = { members: [], next: 0 }));
      g.members.push(s);
    }
  }

  private remove(s: Sub): void {
    s.out.end();
    if (this.byId.get(s.id) === s) this.byId.delete(s.id);
    const bridged = this.bridged.get(s);
    if (bridged) {
      this.bridged.delete(s);
      void bridged.then((x) => x.unsubscribe()).catch(() => {});
      return;
    }
    const t = this.topics.get(s.topic);
    if (!t) return;
    t.fanout.delete(s);
    if (s.queue !== undefined) {
      const g = t.groups.get(s.queue);
      if (g) {
        g.members = g.members.filter((m) => m !== s);
        if (g.members.length === 0) t.groups.delete(s.queue);
      }
    }
    if (t.fanout.size === 0 && t.groups.size === 0) this.topics.delete(s.topic);
  }

  /** Ends every subscription stream (server shutdown). */
  close(): void {
    for (const s of [...this.byId.values()]) this.remove(s);
  }
}
