/**
 * The TCP transport's wire format: length-prefixed frames, many streams per connection.
 *
 *   u32 length of the rest | u32 stream id | u8 flags | u16 header bytes | headers | body
 *
 * Headers are UTF-8 `name \0 value \0 name \0 value`. Flags: MESSAGE (the frame carries a
 * message), END (the sender is done with the stream), RESET (cancel the stream), TIMEOUT (a
 * u32 of milliseconds, the `micro-timeout` header, follows the header length: kept out of the
 * header block so that blocks repeat and their parse can be cached).
 */

export const FLAGS = { message: 1, end: 2, reset: 4, timeout: 8 } as const;

const TIMEOUT_KEY = "micro-timeout";
/** Parsed header blocks by their bytes (latin1 is one char per byte): most frames repeat one. */
const CACHE_LIMIT = 512;
export const PREFIX = 11;

export interface Frame {
  id: number;
  flags: number;
  header: Record<string, string>;
  body: Uint8Array;
}

export class FrameError extends Error {
  override readonly name = "FrameError";
}

const EMPTY_HEADER: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function encodeFrame(id: number, flags: number, header: Record<string, string> | undefined, body: Uint8Array | undefined): Buffer {
  let hs = "";
  let timeout = -1;
  if (header) {
    for (const k in header) {
      const v = header[k];
      if (v === undefined) continue;
      if (k === TIMEOUT_KEY) {
        const t = Number(v);
        if (Number.isInteger(t) && t >= 0 && t <= 0xffffffff) {
          timeout = t;
          continue;
        }
      }
      hs += hs.length === 0 ? k + "\0" + v : "\0" + k + "\0" + v;
    }
  }
  const hlen = hs.length === 0 ? 0 : Buffer.byteLength(hs);
  if (hlen > 0xffff) throw new FrameError(`headers too large: ${hlen} bytes`);
  const blen = body ? body.byteLength : 0;
  const extra = timeout >= 0 ? 4 : 0;
  const start = PREFIX + extra;
  const buf = Buffer.allocUnsafe(start + hlen + blen);
  buf.writeUInt32BE(start - 4 + hlen + blen, 0);
  buf.writeUInt32BE(id, 4);
  buf[8] = timeout >= 0 ? flags | FLAGS.timeout : flags & ~FLAGS.timeout;
  buf.writeUInt16BE(hlen, 9);
  if (extra) buf.writeUInt32BE(timeout, PREFIX);
  if (hlen > 0) buf.write(hs, start, "utf8");
  if (blen > 0) buf.set(body!, start + hlen);
  return buf;
}

function parseHeader(buf: Buffer, start: number, end: number): Record<string, string> {
  const parts = buf.toString("utf8", start, end).split("\0");
  if (parts.length % 2 !== 0) throw new FrameError("malformed header block");
  const header: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 2) header[parts[i]!] = parts[i + 1]!;
  return header;
}

/** Incremental decoder: feed it socket chunks, it calls onFrame for each whole frame. */
export class FrameDecoder {
  private buf: Buffer | undefined;
  private readonly cache = new Map<string, Readonly<Record<string, string>>>();
  constructor(
    private readonly maxFrame: number,
    private readonly onFrame: (f: Frame) => void,
  ) {}

  /** A parsed header block, shared between frames that carry the same bytes (frozen). */
  private header(buf: Buffer, start: number, end: number): Record<string, string> {
    const key = buf.toString("latin1", start, end);
    let h = this.cache.get(key);
    if (h === undefined) {
      h = Object.freeze(parseHeader(buf, start, end));
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, h);
    }
    return h as Record<string, string>;
  }

  /** Throws FrameError on a malformed or oversized frame; the connection must then close. */
  push(chunk: Buffer): void {
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const n = buf.readUInt32BE(off);
      if (n > this.maxFrame) throw new FrameError(`frame of ${n} bytes exceeds the limit of ${this.maxFrame}`);
      if (n < PREFIX - 4) throw new FrameError(`frame of ${n} bytes is too short`);
      if (buf.length - off < 4 + n) break;
      const id = buf.readUInt32BE(off + 4);
      const flags = buf[off + 8]!;
      const hlen = buf.readUInt16BE(off + 9);
      const extra = flags & FLAGS.timeout ? 4 : 0;
      if (hlen + extra > n - (PREFIX - 4)) throw new FrameError("header block overruns the frame");
      const hstart = off + PREFIX + extra;
      let header = hlen > 0 ? this.header(buf, hstart, hstart + hlen) : EMPTY_HEADER;
      if (extra) header = { ...header, [TIMEOUT_KEY]: String(buf.readUInt32BE(off + PREFIX)) };
      const body = buf.subarray(hstart + hlen, off + 4 + n);
      off += 4 + n;
      this.onFrame({ id, flags: flags & ~FLAGS.timeout, header, body });
    }
    this.buf = off === buf.length ? undefined : buf.subarray(off);
    // Keep a copy, not a view into a large chunk, when the leftover is small.
    if (this.buf && this.buf.length < 4096 && this.buf.buffer.byteLength > 65536) this.buf = Buffer.from(this.buf);
  }
}
