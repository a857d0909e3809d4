import { serviceUnavailable } from "../errors/errors.js";
import { silentLogger, type Logger } from "../logger/logger.js";
import type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscriber,
} from "./broker.js";
import { invoke } from "./dispatch.js";

export interface MemoryBrokerOptions {
  /** Where handler errors go. @default silentLogger() */
  logger?: Logger;
}

interface Sub extends Subscriber {
  readonly handler: BrokerHandler;
  active: boolean;
}

/**
 * Pub/sub inside one process. Delivery is asynchronous (a microtask after publish), so a
 * handler never runs inside publish's call stack and can never make publish reject. Queue
 * groups take turns (round-robin) among the members subscribed at delivery time.
 */
export class MemoryBroker implements Broker {
  readonly name = "memory";
  private readonly topics = new Map<string, Set<Sub>>();
  private readonly turns = new Map<string, number>();
  private readonly logger: Logger;
  private closed = false;

  constructor(opts: MemoryBrokerOptions = {}) {
    this.logger = opts.logger ?? silentLogger();
  }

  async connect(): Promise<void> {
    this.assertOpen();
  }

  async publish(topic: string, msg: BrokerMessage, o: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    o.signal?.throwIfAborted();
    // Copied now: the publisher may reuse its buffer once publish resolves.
    const header = { ...msg.header };
    const body = new Uint8Array(msg.body);
    queueMicrotask(() => this.dispatch(topic, header, body));
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    this.assertOpen();
    let subs = this.topics.get(topic);
    if (!subs) this.topics.set(topic, (subs = new Set()));
    const set = subs;
    const sub: Sub = {
      topic,
      queue: o.queue || undefined,
      handler,
      active: true,
      unsubscribe: async () => {
        sub.active = false;
        set.delete(sub);
        if (set.size === 0 && this.topics.get(topic) === set) this.topics.delete(topic);
      },
    };
    set.add(sub);
    return sub;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const subs of this.topics.values()) for (const s of subs) s.active = false;
    this.topics.clear();
    this.turns.clear();
  }

  private dispatch(topic: string, header: Record<string, string>, body: Uint8Array): void {
    const subs = this.topics.get(topic);
    if (!subs) return;
    const groups = new Map<string, Sub[]>();
    const targets: Sub[] = [];
    for (const s of subs) {
      if (!s.active) continue;
      if (s.queue === undefined) targets.push(s);
      else {
        const members = groups.get(s.queue);
        if (members) members.push(s);
        else groups.set(s.queue, [s]);
      }
    }
    for (const [queue, members] of groups) {
      const key = `${topic}\u0000${queue}`;
      const turn = this.turns.get(key) ?? 0;
      this.turns.set(key, (turn + 1) % 1_000_000_007);
      targets.push(members[turn % members.length] as Sub);
    }
    for (const s of targets) {
      void invoke(s.handler, { topic, header: { ...header }, body }, this.logger);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw serviceUnavailable("broker.memory", "broker is closed");
  }
}

export function memoryBroker(opts: MemoryBrokerOptions = {}): MemoryBroker {
  return new MemoryBroker(opts);
}
