/** A codec turns values into bytes and back; chosen per call by content type. */
import { badRequest } from "../errors/errors.js";

export interface Codec {
  /** e.g. "application/json". */
  readonly contentType: string;
  readonly name: string;
  encode(v: unknown): Uint8Array;
  /** Rejects malformed input with a 400 MicroError. */
  decode(b: Uint8Array): unknown;
}

const EMPTY = new Uint8Array(0);

/** JSON, the default. An empty body decodes to `{}`; `undefined` encodes to an empty body. */
export class JsonCodec implements Codec {
  readonly contentType = "application/json";
  readonly name = "json";
  encode(v: unknown): Uint8Array {
    if (v === undefined) return EMPTY;
    return Buffer.from(JSON.stringify(v));
  }
  decode(b: Uint8Array): unknown {
    if (b.byteLength === 0) return {};
    const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    try {
      return JSON.parse(buf.toString("utf8"));
    } catch (e) {
      throw badRequest("codec.json", `malformed JSON: ${(e as Error).message}`);
    }
  }
}

/** Raw bytes: the value must be a Uint8Array (or a string, sent as UTF-8). */
export class BytesCodec implements Codec {
  readonly contentType = "application/octet-stream";
  readonly name = "bytes";
  encode(v: unknown): Uint8Array {
    if (v instanceof Uint8Array) return v;
    if (typeof v === "string") return Buffer.from(v);
    if (v === undefined || v === null) return EMPTY;
    throw badRequest("codec.bytes", "bytes codec needs a Uint8Array or a string");
  }
  decode(b: Uint8Array): unknown {
    return b;
  }
}

export function jsonCodec(): JsonCodec {
  return new JsonCodec();
}

export function bytesCodec(): BytesCodec {
  return new BytesCodec();
}

/** Codecs by content type; the first is the default for outgoing calls. */
export class Codecs {
  private readonly byType = new Map<string, Codec>();
  readonly default: Codec;
  constructor(list: Codec[] = [new JsonCodec(), new BytesCodec()]) {
    if (list.length === 0) throw new TypeError("at least one codec is needed");
    this.default = list[0]!;
    for (const c of list) this.byType.set(c.contentType, c);
  }
  /** The codec for a Content-Type header (parameters ignored); undefined when unknown. */
  get(contentType: string | undefined): Codec | undefined {
    if (!contentType) return this.default;
    const exact = this.byType.get(contentType);
    if (exact) return exact;
    const semi = contentType.indexOf(";");
    const t = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    return this.byType.get(t) ?? (t === "text/json" || t === "application/grpc+json" ? this.byType.get("application/json") : undefined);
  }
  add(c: Codec): void {
    this.byType.set(c.contentType, c);
  }
  types(): string[] {
    return [...this.byType.keys()];
  }
}
