// Validation and value encoding for the store (the same rules as the core stores).
import { errors } from "@micro-ts/micro";
import { MAX_KEY_BYTES, type StoreValue } from "@micro-ts/micro";

export const STORE_ERROR_ID = "micro.store";
const utf8 = new TextEncoder();

/** Rejects (throws 400) an empty key or one over MAX_KEY_BYTES of UTF-8. */
export function checkKey(key: unknown, allowEmpty = false): string {
  if (typeof key !== "string") throw errors.badRequest(STORE_ERROR_ID, "key must be a string");
  if (key === "" && !allowEmpty) throw errors.badRequest(STORE_ERROR_ID, "key must not be empty");
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw errors.badRequest(STORE_ERROR_ID, `key longer than ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** Checks a scope name (database or table): non-empty, at most 256 bytes. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name === "" || Buffer.byteLength(name, "utf8") > 256) {
    throw errors.badRequest(STORE_ERROR_ID, `${kind} must be a non-empty string of at most 256 bytes`);
  }
  return name;
}

/** A value as stored: its bytes and whether they are JSON text. */
export interface Encoded {
  bytes: Uint8Array;
  json: boolean;
}

export function encodeValue(value: StoreValue, max: number): Encoded {
  let enc: Encoded;
  if (value instanceof Uint8Array) {
    enc = { bytes: new Uint8Array(value), json: false };
  } else {
    let text: string | undefined;
    try {
      text = JSON.stringify(value) as string | undefined;
    } catch (e) {
      throw errors.badRequest(STORE_ERROR_ID, "value is not JSON-able", e);
    }
    if (text === undefined) throw errors.badRequest(STORE_ERROR_ID, "value is not JSON-able");
    enc = { bytes: utf8.encode(text), json: true };
  }
  if (enc.bytes.byteLength > max) {
    throw errors.payloadTooLarge(STORE_ERROR_ID, `value of ${enc.bytes.byteLength} bytes exceeds ${max}`);
  }
  return enc;
}

export function decodeValue(bytes: Uint8Array, json: boolean): StoreValue {
  return json ? (JSON.parse(Buffer.from(bytes).toString("utf8")) as StoreValue) : new Uint8Array(bytes);
}

/** Checks a metadata object is JSON-able and returns its JSON text ("" for none). */
export function metadataJSON(m: Record<string, unknown> | undefined): string {
  if (m === undefined) return "";
  if (typeof m !== "object" || m === null) throw errors.badRequest(STORE_ERROR_ID, "metadata must be an object");
  try {
    return JSON.stringify(m);
  } catch (e) {
    throw errors.badRequest(STORE_ERROR_ID, "metadata is not JSON-able", e);
  }
}

/** Non-negative integer option, or undefined. */
export function checkCount(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw errors.badRequest(STORE_ERROR_ID, `${name} must be a non-negative integer`);
  return v;
}

/** A TTL in whole ms (0 = never). */
export function checkTTL(ttl: number | undefined): number {
  if (ttl === undefined || ttl === 0) return 0;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) {
    throw errors.badRequest(STORE_ERROR_ID, "expiry must be a non-negative number of ms");
  }
  return Math.max(1, Math.ceil(ttl));
}
