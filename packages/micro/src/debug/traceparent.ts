/**
 * W3C Trace Context `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
 * https://www.w3.org/TR/trace-context/#traceparent-header
 */
export interface TraceParent {
  /** Two lower-case hex digits; "00" is the only version written. */
  version: string;
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** The caller's span: 16 lower-case hex digits, not all zero. */
  spanId: string;
  /** Bit 0 is "sampled". */
  flags: number;
}

const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** Whether s[from, to) is lower-case hex (a loop, not a regex: this runs on every call). */
function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * Parses a traceparent strictly: lower-case hex only, no all-zero ids, version "ff" refused,
 * version "00" exactly 55 characters; a later version may carry more fields after a "-".
 * Returns undefined for anything malformed; never throws.
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== "string" || value.length < 55) return undefined;
  if (value[2] !== "-" || value[35] !== "-" || value[52] !== "-") return undefined;
  if (!isHex(value, 0, 2) || !isHex(value, 3, 35) || !isHex(value, 36, 52) || !isHex(value, 53, 55)) return undefined;
  const version = value.slice(0, 2);
  if (version === "ff") return undefined;
  if (version === "00" ? value.length !== 55 : value.length > 55 && value[55] !== "-") return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { version, traceId, spanId, flags: parseInt(value.slice(53, 55), 16) };
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Formats a version-00 traceparent. */
export function formatTraceparent(traceId: string, spanId: string, flags = 1): string {
  return `00-${traceId}-${spanId}-${HEX_BYTE[flags & 0xff]!}`;
}

/**
 * Random ids, as OpenTelemetry JS makes them: Math.random, not crypto (ids need to be
 * unique, not secret), turned into hex through a table; no native call per id.
 */
export class IdSource {
  private hex(bytes: number): string {
    let s = "";
    for (let i = 0; i < bytes; i += 4) {
      const r = (Math.random() * 0x100000000) >>> 0;
      s += HEX_BYTE[r >>> 24]! + HEX_BYTE[(r >>> 16) & 0xff]! + HEX_BYTE[(r >>> 8) & 0xff]! + HEX_BYTE[r & 0xff]!;
    }
    return s;
  }

  private take(bytes: number): string {
    for (;;) {
      const s = this.hex(bytes);
      // All-zero ids are invalid; with 64 random bits this is a formality.
      if (s !== ZERO_SPAN && s !== ZERO_TRACE) return s;
    }
  }

  /** 16 random bytes as 32 hex digits. */
  traceId(): string {
    return this.take(16);
  }

  /** 8 random bytes as 16 hex digits. */
  spanId(): string {
    return this.take(8);
  }
}
