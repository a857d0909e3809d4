/**
 * Events: a durable, replayable stream per topic (go-micro's events domain). Unlike the
 * broker (fire-and-forget), every published event is stored, numbered and kept; consumers
 * read it at least once through consumer groups that remember their position.
 */

/** What a payload may be: any JSON value, or raw bytes. */
export type Payload = unknown;

export interface Event {
  /** Unique id, assigned at publish. */
  readonly id: string;
  readonly topic: string;
  /** The published value: the same JSON, or a fresh `Uint8Array` for bytes. */
  readonly payload: Payload;
  readonly timestamp: Date;
  readonly metadata: Readonly<Record<string, string>>;
  /** Position in the topic, starting at 1, gap-free, in publish order. */
  readonly sequence: number;
  /** How many times this event has been handed to this group (1 on first delivery). */
  readonly deliveries: number;
  /** Marks the event done for the consumer's group. Idempotent; resolves once recorded (durably where the implementation is durable). */
  ack(): Promise<void>;
  /** Hands the event back for immediate redelivery to any member of the group; counts toward `retryLimit`. */
  nack(): Promise<void>;
}

export interface PublishOptions {
  metadata?: Record<string, string>;
  /** @default now */
  timestamp?: Date | number;
}

export interface ConsumeOptions {
  /**
   * Consumers sharing a group share the stream: each event goes to one member. Separate
   * groups each get every event. @default a unique group per consumer (it gets every event)
   */
  group?: string;
  /**
   * Where a *new* group starts; an existing group continues from its acknowledged position.
   * A number skips that many events (0 = earliest, n = start at sequence n + 1); a Date starts
   * at the first event stamped at or after it. @default "latest"
   */
  offset?: "latest" | "earliest" | number | Date;
  /** Ack each event when the consumer asks for the next one (or ends the loop). @default true */
  autoAck?: boolean;
  /** An event delivered but not acked within this many ms is redelivered. @default 30000 */
  ackWait?: number;
  /**
   * Redeliveries allowed after the first delivery; an event that fails once more is parked in
   * the dead-letter topic `<topic>.dead` (with metadata `dead-topic`, `dead-id`,
   * `dead-sequence`, `dead-deliveries`). @default 3
   */
  retryLimit?: number;
  /** Aborting stops the consumer, like `stop()`. */
  signal?: AbortSignal;
}

/** An async iterable of events; `stop()` ends it and returns its unacked events to the group at once. */
export interface Consumer extends AsyncIterable<Event> {
  stop(): Promise<void>;
}

export interface ReadOptions {
  /** @default all */
  limit?: number;
  /** Events skipped from the start (the first returned has sequence offset + 1). @default 0 */
  offset?: number;
}

export interface Events {
  /**
   * Appends an event; resolves with its id once it is stored (on disk, fsynced, for durable
   * implementations). Events published by one caller are consumed in publish order.
   * Rejects with badRequest (400) for an empty topic or a payload that is neither JSON nor bytes.
   */
  publish(topic: string, payload: Payload, o?: PublishOptions): Promise<string>;
  /** Starts consuming at once (the group position is fixed now, not at the first read). */
  consume(topic: string, o?: ConsumeOptions): Consumer;
  /** Replays stored events in order, independent of any group; ack/nack on them do nothing. */
  read(topic: string, o?: ReadOptions): Promise<Event[]>;
  /** Topics that hold at least one event, sorted. */
  topics(): Promise<string[]>;
  /** Stops every consumer (their loops end) and releases resources. Later calls reject with 503. */
  close(): Promise<void>;
}

export const DEAD_LETTER_SUFFIX = ".dead";
