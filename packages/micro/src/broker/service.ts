/**
 * A broker served by the `broker` core service of a `micro server`. Publish is one call;
 * each subscription is a stream the server pushes messages into (fan-out, or one member of a
 * queue group), reopened when the server restarts.
 */
import { randomUUID } from "node:crypto";
import { serviceUnavailable } from "../errors/errors.js";
import type { Logger } from "../logger/logger.js";
import { silentLogger } from "../logger/logger.js";
import { fromBase64, keepStream, Remote, toBase64, type KeptStream, type RemoteOptions } from "../util/remote.js";
import type { Broker, BrokerHandler, BrokerMessage, PublishOptions, SubscribeOptions, Subscriber } from "./broker.js";

export interface ServiceBrokerOptions extends RemoteOptions {
  /** Where handler failures are logged. @default silent */
  logger?: Logger;
}

export const BROKER_SERVICE = "broker";

/** A message on the wire: the body in base64. */
export interface WireMessage {
  topic: string;
  header: Record<string, string>;
  body: string;
}

class ServiceSubscriber implements Subscriber {
  private done = false;
  constructor(
    readonly topic: string,
    readonly queue: string | undefined,
    private readonly id: string,
    private readonly kept: KeptStream,
    private readonly owner: ServiceBroker,
  ) {}

  get active(): boolean {
    return !this.done;
  }

  async unsubscribe(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.owner.forget(this);
    // Removed on the server first, so no publish that follows can still reach it.
    await this.owner.remote.call("Broker.Unsubscribe", { id: this.id }).catch(() => {});
    this.kept.stop();
  }
}

class ServiceBroker implements Broker {
  readonly name = "service";
  readonly remote: Remote;
  private readonly logger: Logger;
  private readonly subs = new Set<ServiceSubscriber>();

  constructor(opts: ServiceBrokerOptions) {
    this.remote = new Remote(BROKER_SERVICE, opts);
    this.logger = opts.logger ?? silentLogger();
  }

  async connect(): Promise<void> {
    if (this.remote.isClosed) throw this.closed();
  }

  private closed(): Error {
    return serviceUnavailable("micro.broker", "broker is closed");
  }

  async publish(topic: string, msg: BrokerMessage, o: PublishOptions = {}): Promise<void> {
    if (this.remote.isClosed) throw this.closed();
    const wire: WireMessage = { topic, header: msg.header, body: toBase64(msg.body) };
    await this.remote.call("Broker.Publish", wire, o.signal ? { signal: o.signal } : {});
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    if (this.remote.isClosed) throw this.closed();
    const id = randomUUID();
    let chain = Promise.resolve();
    let sub: ServiceSubscriber | undefined;
    const kept = keepStream<WireMessage>(this.remote, "Broker.Subscribe", {
      request: () => ({ id, topic, ...(o.queue !== undefined ? { queue: o.queue } : {}) }),
      onItem: (m) => {
        if (sub && !sub.active) return;
        const ev = { topic: m.topic, header: m.header, body: fromBase64(m.body) };
        // One message at a time per subscriber, in arrival order; a failing handler is logged only.
        chain = chain.then(async () => {
          try {
            await handler(ev);
          } catch (e) {
            this.logger.warn("subscriber failed", { topic, error: e instanceof Error ? e.message : String(e) });
          }
        });
      },
    });
    sub = new ServiceSubscriber(topic, o.queue, id, kept, this);
    this.subs.add(sub);
    try {
      await kept.ready;
    } catch (e) {
      this.subs.delete(sub);
      throw e;
    }
    return sub;
  }

  forget(s: ServiceSubscriber): void {
    this.subs.delete(s);
  }

  async close(): Promise<void> {
    if (this.remote.isClosed) return;
    await Promise.all([...this.subs].map((s) => s.unsubscribe()));
    await this.remote.close();
  }
}

export function serviceBroker(opts: ServiceBrokerOptions): Broker {
  return new ServiceBroker(opts);
}
