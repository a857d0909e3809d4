/**
 * How an event is laid out in a JetStream message: the payload is the message body as it
 * is (JSON text or raw bytes), everything else rides in headers, so any NATS client can read
 * the stream.
 */
import { errors, type Event } from "@micro-ts/micro";
import { headers as natsHeaders, type MsgHdrs } from "nats";
import { utf8 } from "./names.js";

export const ID = "micro.events.nats";

/** Header names of an event message. */
export const EVENT_HEADERS = {
  id: "Micro-Id",
  /** Milliseconds since the epoch: the event's own time, which a publisher may set. */
  timestamp: "Micro-Timestamp",
  /** "json" or "bytes". */
  payload: "Micro-Payload",
  /** The metadata as a JSON object of strings. */
  metadata: "Micro-Metadata",
} as const;

/** An event as it travels: body and headers, ready to publish. */
export interface Encoded {
  id: string;
  body: Uint8Array;
  headers: MsgHdrs;
}

export function encodeEvent(id: string, payload: unknown, ts: number, md: Record<string, string>): Encoded {
  let body: Uint8Array;
  let kind: "json" | "bytes";
  if (payload instanceof Uint8Array) {
    body = new Uint8Array(payload);
    kind = "bytes";
  } else {
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (e) {
      throw errors.badRequest(ID, `payload is not JSON: ${(e as Error).message}`, e);
    }
    if (text === undefined) throw errors.badRequest(ID, "payload is not JSON or bytes");
    body = utf8.encode(text);
    kind = "json";
  }
  const h = natsHeaders();
  h.set(EVENT_HEADERS.id, id);
  h.set(EVENT_HEADERS.timestamp, String(ts));
  h.set(EVENT_HEADERS.payload, kind);
  if (Object.keys(md).length > 0) h.set(EVENT_HEADERS.metadata, JSON.stringify(md));
  return { id, body, headers: h };
}

/** The fields of a stored or delivered message, whoever published it. */
export interface Decoded {
  id: string;
  payload: unknown;
  timestamp: Date;
  metadata: Record<string, string>;
}

/**
 * Reads a message back. Messages published by other NATS clients (no Micro headers) still
 * decode: JSON bodies become values, anything else bytes; the id falls back to Nats-Msg-Id.
 */
export function decodeEvent(h: MsgHdrs | undefined, data: Uint8Array, fallbackId: string, fallbackTime: Date): Decoded {
  const get = (k: string): string => (h?.has(k) ? h.get(k) : "");
  const kind = get(EVENT_HEADERS.payload);
  let payload: unknown;
  if (kind === "bytes") payload = new Uint8Array(data);
  else {
    try {
      payload = JSON.parse(utf8.decode(data));
    } catch {
      payload = new Uint8Array(data);
    }
  }
  let metadata: Record<string, string> = {};
  const md = get(EVENT_HEADERS.metadata);
  if (md) {
    try {
      metadata = JSON.parse(md) as Record<string, string>;
    } catch {
      // a foreign publisher's malformed header: no metadata
    }
  }
  const ts = Number(get(EVENT_HEADERS.timestamp));
  return {
    id: get(EVENT_HEADERS.id) || get("Nats-Msg-Id") || fallbackId,
    payload,
    timestamp: get(EVENT_HEADERS.timestamp) && Number.isFinite(ts) ? new Date(ts) : fallbackTime,
    metadata,
  };
}

const noop = (): Promise<void> => Promise.resolve();

/** An Event for `read`: not delivered to any group, so ack and nack do nothing. */
export function readEvent(topic: string, d: Decoded, seq: number): Event {
  return { ...d, topic, sequence: seq, deliveries: 0, ack: noop, nack: noop };
}
