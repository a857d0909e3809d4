/**
 * The broker: fire-and-forget publish/subscribe between services. Messages are bytes plus
 * string headers; the service layer encodes payloads with the codec. For a durable
 * stream with acks and replay, use Events instead.
 */

export interface BrokerMessage {
  /** String headers: Micro-Topic, Content-Type, Micro-Id, trace headers, user metadata. */
  header: Record<string, string>;
  body: Uint8Array;
}

/** What a subscriber's handler receives. */
export interface BrokerEvent extends BrokerMessage {
  topic: string;
}

export type BrokerHandler = (ev: BrokerEvent) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * A queue group: each message goes to exactly one subscriber of the group. Without a
   * queue every subscriber gets every message (fan-out).
   */
  queue?: string;
}

export interface PublishOptions {
  signal?: AbortSignal;
}

export interface Subscriber {
  readonly topic: string;
  readonly queue: string | undefined;
  /** Stops delivery to this handler; idempotent. */
  unsubscribe(): Promise<void>;
}

export interface Broker {
  /** A short name for logs and node metadata ("memory", "http", "nats", ...). */
  readonly name: string;
  /** Opens connections / listeners. Idempotent; publish and subscribe call it if needed. */
  connect(): Promise<void>;
  /**
   * Delivers the message to the topic's current subscribers: every fan-out subscriber and
   * one member of each queue group. Resolves once handed to the broker (for the HTTP broker:
   * once every target answered, which it does after its handler ran). No subscriber is not
   * an error; a handler's error never rejects publish (the subscriber's side logs it). The
   * broker owns the message once publish resolved: the caller may reuse its buffer.
   * Rejects with a 503 MicroError after close.
   */
  publish(topic: string, msg: BrokerMessage, o?: PublishOptions): Promise<void>;
  /**
   * Resolves once the subscription is live: a publish after it resolves reaches it (across
   * processes: as soon as the registry or server has propagated it). Handlers receive the
   * same body as other subscribers of the message: treat it as read-only.
   */
  subscribe(topic: string, handler: BrokerHandler, o?: SubscribeOptions): Promise<Subscriber>;
  /**
   * Unsubscribes everything and releases resources. Idempotent; afterwards publish and
   * subscribe reject with a 503 MicroError.
   */
  close(): Promise<void>;
}
