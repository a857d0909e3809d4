// The file store's on-disk format: an append-only log of framed entries.
//   frame   = MAGIC(4) | payload length u32be | crc32(payload) u32be | payload
//   payload = header length u32be | header JSON | value bytes
// A frame is valid only if its magic, length and CRC all check, so recovery can drop a torn
// tail and resynchronise past corrupted bytes in the middle by scanning for the next magic.

export const MAGIC = Buffer.from("MiLg", "latin1");
const FRAME_HEAD = 12;
/** Larger lengths are treated as corruption. */
const MAX_PAYLOAD = 256 * 1024 * 1024;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib.crc32), table-driven. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One log entry's header. */
export interface EntryHeader {
  /** "p": put, "d": delete. */
  o: "p" | "d";
  /** table */
  t: string;
  /** key */
  k: string;
  /** 1 when the value bytes are JSON text */
  j?: 1;
  /** metadata */
  m?: Record<string, unknown>;
  /** expires at, ms since epoch */
  x?: number;
}

export interface LogEntry {
  header: EntryHeader;
  value: Uint8Array;
  /** bytes the frame takes on disk */
  size: number;
}

export function encodeFrame(header: EntryHeader, value: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header), "utf8");
  const payloadLen = 4 + h.length + value.byteLength;
  const frame = Buffer.allocUnsafe(FRAME_HEAD + payloadLen);
  MAGIC.copy(frame, 0);
  frame.writeUInt32BE(payloadLen, 4);
  frame.writeUInt32BE(h.length, FRAME_HEAD);
  h.copy(frame, FRAME_HEAD + 4);
  frame.set(value, FRAME_HEAD + 4 + h.length);
  frame.writeUInt32BE(crc32(frame, FRAME_HEAD, frame.length), 8);
  return frame;
}

/** Decodes the frame at `pos`, or returns undefined if it is not a complete, valid frame. */
function frameAt(buf: Buffer, pos: number): LogEntry | undefined {
  if (buf.length - pos < FRAME_HEAD) return undefined;
  if (buf.compare(MAGIC, 0, 4, pos, pos + 4) !== 0) return undefined;
  const len = buf.readUInt32BE(pos + 4);
  if (len < 4 || len > MAX_PAYLOAD || pos + FRAME_HEAD + len > buf.length) return undefined;
  const start = pos + FRAME_HEAD;
  if (crc32(buf, start, start + len) !== buf.readUInt32BE(pos + 8)) return undefined;
  const hlen = buf.readUInt32BE(start);
  if (4 + hlen > len) return undefined;
  let header: EntryHeader;
  try {
    header = JSON.parse(buf.toString("utf8", start + 4, start + 4 + hlen)) as EntryHeader;
  } catch {
    return undefined;
  }
  if ((header.o !== "p" && header.o !== "d") || typeof header.k !== "string" || typeof header.t !== "string") {
    return undefined;
  }
  const value = buf.subarray(start + 4 + hlen, start + len);
  return { header, value, size: FRAME_HEAD + len };
}

export interface ScanResult {
  entries: LogEntry[];
  /** Offset just past the last valid frame. */
  validEnd: number;
  droppedBytes: number;
  /** Frames lost, as best as can be told: the frame starts found in dropped regions (at least 1 per region). */
  droppedEntries: number;
  /** True when invalid bytes sit between valid frames (not only at the tail). */
  corruptMiddle: boolean;
}

/** Reads every valid frame; skips invalid regions, resuming at the next valid frame. */
export function scanLog(buf: Buffer): ScanResult {
  const r: ScanResult = { entries: [], validEnd: 0, droppedBytes: 0, droppedEntries: 0, corruptMiddle: false };
  let pos = 0;
  while (pos < buf.length) {
    const e = frameAt(buf, pos);
    if (e) {
      r.entries.push(e);
      pos += e.size;
      r.validEnd = pos;
      continue;
    }
    // Invalid: find the next position where a valid frame starts.
    let next = -1;
    let starts = 1;
    for (let q = buf.indexOf(MAGIC, pos + 1); q !== -1; q = buf.indexOf(MAGIC, q + 1)) {
      if (frameAt(buf, q)) {
        next = q;
        break;
      }
      starts++;
    }
    const end = next === -1 ? buf.length : next;
    r.droppedBytes += end - pos;
    r.droppedEntries += starts;
    if (next === -1) break;
    r.corruptMiddle = true;
    pos = next;
  }
  return r;
}
