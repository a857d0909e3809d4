/**
 * The HTTP broker's wire format, kept identical to go-micro's HTTP broker so a Go service and
 * a TypeScript service on one registry exchange messages:
 *
 *   POST /?id=<subscriber node id>   Content-Type: application/json
 *   {"header":{"Micro-Topic":"user.created",...},"body":"<base64>"}
 *
 * Go marshals the envelope as {"Header","Body"} and unmarshals keys case-insensitively, so
 * we write lower-case keys and read either.
 */
import type { BrokerMessage } from "./broker.js";

/** The service every HTTP broker subscription registers under (go-micro's name). */
export const HTTP_BROKER_SERVICE = "micro.http.broker";
/** The record version of fan-out subscriptions; a queue group's version is its name. */
export const BROADCAST_VERSION = "ff.http.broadcast";
/** The header that carries the topic inside the envelope. */
export const TOPIC_HEADER = "Micro-Topic";

export function encodeEnvelope(topic: string, msg: BrokerMessage): Buffer {
  const body = Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength);
  const header = { ...msg.header, [TOPIC_HEADER]: topic };
  return Buffer.from(JSON.stringify({ header, body: body.toString("base64") }));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parses an envelope; undefined when it is malformed (not JSON, wrong types, bad base64). */
export function decodeEnvelope(raw: Buffer): { topic: string; header: Record<string, string>; body: Uint8Array } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const h = o["header"] ?? o["Header"] ?? null;
  const b = o["body"] ?? o["Body"] ?? null;
  if (h !== null && (typeof h !== "object" || Array.isArray(h))) return undefined;
  const header: Record<string, string> = {};
  for (const [k, val] of Object.entries((h ?? {}) as Record<string, unknown>)) {
    if (typeof val !== "string") return undefined;
    header[k] = val;
  }
  if (b !== null && (typeof b !== "string" || !BASE64.test(b))) return undefined;
  const topic = header[TOPIC_HEADER];
  if (!topic) return undefined;
  const buf = b === null ? Buffer.alloc(0) : Buffer.from(b, "base64");
  return { topic, header, body: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}

export { joinHostPort, splitHostPort } from "../util/address.js";
