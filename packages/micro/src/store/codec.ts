// Validation and value encoding shared by every store implementation, core and plugins
// (exported as `@micro-ts/micro/store-codec`, so every store enforces the same rules).
import { badRequest, payloadTooLarge } from "../errors/errors.js";
import { MAX_KEY_BYTES, STORE_ERROR_ID, type StoreValue } from "./store.js";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Rejects (throws 400) an empty key or one over MAX_KEY_BYTES of UTF-8. */
export function checkKey(key: unknown, allowEmpty = false): string {
  if (typeof key !== "string") throw badRequest(STORE_ERROR_ID, "key must be a string");
  if (key === "" && !allowEmpty) throw badRequest(STORE_ERROR_ID, "key must not be empty");
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw badRequest(STORE_ERROR_ID, `key longer than ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** Checks a scope name (database or table): non-empty, at most 256 bytes. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name === "" || Buffer.byteLength(name, "utf8") > 256) {
    throw badRequest(STORE_ERROR_ID, `${kind} must be a non-empty string of at most 256 bytes`);
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
      throw badRequest(STORE_ERROR_ID, "value is not JSON-able", e);
    }
    if (text === undefined) throw badRequest(STORE_ERROR_ID, "value is not JSON-able");
    enc = { bytes: utf8.encode(text), json: true };
  }
  if (enc.bytes.byteLength > max) {
    throw payloadTooLarge(STORE_ERROR_ID, `value of ${enc.bytes.byteLength} bytes exceeds ${max}`);
  }
  return enc;
}

export function decodeValue(e: Encoded): StoreValue {
  // A plain Uint8Array copy, even if the store holds a Buffer.
  return e.json ? (JSON.parse(fromUtf8.decode(e.bytes)) as StoreValue) : new Uint8Array(e.bytes);
}

/** Checks a metadata object is JSON-able and returns a private copy. */
export function copyMetadata(m: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (m === undefined) return undefined;
  if (typeof m !== "object" || m === null) throw badRequest(STORE_ERROR_ID, "metadata must be an object");
  try {
    return JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
  } catch (e) {
    throw badRequest(STORE_ERROR_ID, "metadata is not JSON-able", e);
  }
}

/** Non-negative integer option, or undefined. */
export function checkCount(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw badRequest(STORE_ERROR_ID, `${name} must be a non-negative integer`);
  return v;
}

/** A TTL in whole ms (0 = never); rejects (400) anything but a non-negative number. */
export function checkTTL(ttl: number | undefined): number {
  if (ttl === undefined || ttl === 0) return 0;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) {
    throw badRequest(STORE_ERROR_ID, "expiry must be a non-negative number of ms");
  }
  return Math.max(1, Math.ceil(ttl));
}

/** Absolute expiry time (ms since epoch, 0 = never) from a TTL in ms. */
export function expiresAt(ttl: number | undefined, now: number): number {
  const t = checkTTL(ttl);
  return t === 0 ? 0 : now + t;
}

/** Checks a metadata object is JSON-able and returns its JSON text ("" for none). */
export function metadataJSON(m: Record<string, unknown> | undefined): string {
  if (m === undefined) return "";
  if (typeof m !== "object" || m === null) throw badRequest(STORE_ERROR_ID, "metadata must be an object");
  try {
    return JSON.stringify(m);
  } catch (e) {
    throw badRequest(STORE_ERROR_ID, "metadata is not JSON-able", e);
  }
}

export { STORE_ERROR_ID };
