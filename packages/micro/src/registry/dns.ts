/**
 * A small DNS message encoder/decoder (RFC 1035, with mDNS's class bits from RFC 6762): just
 * what the mdns registry needs — A, AAAA, PTR, SRV and TXT records, name compression. Every
 * malformed input makes `decodeMessage` throw a `DnsError`, never anything else.
 */
import { isIPv4, isIPv6 } from "node:net";

export const TYPES = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
/** The class IN; mDNS reuses its top bit: "unicast response" in questions, "cache flush" in records. */
export const CLASS_IN = 1;
export const CLASS_TOP_BIT = 0x8000;
/** Header flags: a response, authoritative (what mDNS responders send). */
export const FLAG_RESPONSE = 0x8000;
export const FLAG_AUTHORITATIVE = 0x0400;

export interface Question {
  name: string;
  type: number;
  /** With the top bit: the querier asks for a unicast response. */
  class: number;
}

interface RecordBase {
  name: string;
  /** With the top bit: cache flush. */
  class: number;
  /** Seconds; 0 is an mDNS goodbye. */
  ttl: number;
}
export type ResourceRecord = RecordBase &
  (
    | { type: typeof TYPES.A | typeof TYPES.AAAA; data: string }
    | { type: typeof TYPES.PTR; data: string }
    | { type: typeof TYPES.TXT; data: string[] }
    | {
        type: typeof TYPES.SRV;
        data: { priority: number; weight: number; port: number; target: string };
      }
    | { type: number & {}; data: Uint8Array }
  );

export interface Message {
  id: number;
  flags: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export class DnsError extends Error {
  override readonly name = "DnsError";
  readonly code = "ERR_DNS_MALFORMED";
}

const fail = (what: string): never => {
  throw new DnsError(what);
};

/** Names are written without the root dot internally; "a.b." and "a.b" are the same name. */
function labels(name: string): string[] {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  return trimmed === "" ? [] : trimmed.split(".");
}

class Writer {
  private buf = Buffer.alloc(512);
  len = 0;
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.len++);
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  patch16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }
  name(name: string): void {
    const ls = labels(name);
    for (let i = 0; i < ls.length; i++) {
      const suffix = ls.slice(i).join(".").toLowerCase();
      const at = this.names.get(suffix);
      if (at !== undefined) return this.u16(0xc000 | at);
      if (this.len < 0x3fff) this.names.set(suffix, this.len);
      const b = Buffer.from(ls[i]!, "utf8");
      if (b.length === 0 || b.length > 63) fail(`label of ${b.length} bytes in ${name}`);
      this.u8(b.length);
      this.bytes(b);
    }
    this.u8(0);
  }
  done(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function writeRecord(w: Writer, r: ResourceRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl >>> 0);
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  if (r.type === TYPES.A) {
    if (typeof r.data !== "string" || !isIPv4(r.data)) fail(`bad A address ${String(r.data)}`);
    for (const part of (r.data as string).split(".")) w.u8(Number(part));
  } else if (r.type === TYPES.AAAA) {
    if (typeof r.data !== "string" || !isIPv6(r.data)) fail(`bad AAAA address ${String(r.data)}`);
    w.bytes(ipv6Bytes(r.data as string));
  } else if (r.type === TYPES.PTR) {
    w.name(r.data as string);
  } else if (r.type === TYPES.TXT) {
    const strings = r.data as string[];
    for (const s of strings.length === 0 ? [""] : strings) {
      const b = Buffer.from(s, "utf8");
      if (b.length > 255) fail(`TXT string of ${b.length} bytes`);
      w.u8(b.length);
      w.bytes(b);
    }
  } else if (r.type === TYPES.SRV) {
    const d = r.data as { priority: number; weight: number; port: number; target: string };
    w.u16(d.priority);
    w.u16(d.weight);
    w.u16(d.port);
    w.name(d.target);
  } else {
    w.bytes(r.data as Uint8Array);
  }
  w.patch16(lenAt, w.len - start);
}

function ipv6Bytes(ip: string): Uint8Array {
  let s = ip;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head = "", tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function encodeMessage(m: Partial<Message>): Buffer {
  const w = new Writer();
  const qs = m.questions ?? [];
  const sections = [m.answers ?? [], m.authorities ?? [], m.additionals ?? []];
  w.u16(m.id ?? 0);
  w.u16(m.flags ?? 0);
  w.u16(qs.length);
  for (const s of sections) w.u16(s.length);
  for (const q of qs) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const s of sections) for (const r of s) writeRecord(w, r);
  return w.done();
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  need(n: number, at = this.pos): void {
    if (at + n > this.buf.length) fail(`truncated at byte ${at}`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** Reads a possibly compressed name; pointers must go strictly backwards, so loops end. */
  name(): string {
    const out: string[] = [];
    let at = this.pos;
    let end = -1;
    let limit = at;
    let total = 0;
    for (;;) {
      this.need(1, at);
      const len = this.buf.readUInt8(at);
      if (len === 0) {
        at += 1;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        this.need(2, at);
        const ptr = this.buf.readUInt16BE(at) & 0x3fff;
        if (end < 0) end = at + 2;
        if (ptr >= limit) fail(`forward or looping name pointer at byte ${at}`);
        at = limit = ptr;
        continue;
      }
      if (len > 63) fail(`bad label length ${len}`);
      this.need(1 + len, at);
      out.push(this.buf.toString("utf8", at + 1, at + 1 + len));
      total += len + 1;
      if (total > 255) fail("name longer than 255 bytes");
      at += 1 + len;
    }
    this.pos = end >= 0 ? end : at;
    return out.join(".") + ".";
  }
}

function readRecord(r: Reader): ResourceRecord {
  const name = r.name();
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const len = r.u16();
  r.need(len);
  const end = r.pos + len;
  const base = { name, class: cls, ttl };
  let rec: ResourceRecord;
  if (type === TYPES.A) {
    if (len !== 4) fail("A record is not 4 bytes");
    rec = { ...base, type, data: [...r.bytes(4)].join(".") };
  } else if (type === TYPES.AAAA) {
    if (len !== 16) fail("AAAA record is not 16 bytes");
    const b = r.bytes(16);
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    rec = { ...base, type, data: groups.join(":") };
  } else if (type === TYPES.PTR) {
    rec = { ...base, type, data: r.name() };
  } else if (type === TYPES.TXT) {
    const strings: string[] = [];
    while (r.pos < end) strings.push(r.bytes(r.u8()).toString("utf8"));
    rec = { ...base, type, data: strings };
  } else if (type === TYPES.SRV) {
    rec = {
      ...base,
      type,
      data: { priority: r.u16(), weight: r.u16(), port: r.u16(), target: r.name() },
    };
  } else {
    rec = { ...base, type, data: new Uint8Array(r.bytes(len)) };
  }
  if (r.pos !== end) fail(`record ${name} overruns its length`);
  return rec;
}

export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf);
  const id = r.u16();
  const flags = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  // Each question needs at least 5 bytes and each record 11: refuse absurd counts up front.
  if (counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > buf.length)
    fail("counts exceed the message");
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++)
    questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const read = (n: number) => Array.from({ length: n }, () => readRecord(r));
  return {
    id,
    flags,
    questions,
    answers: read(counts[1]),
    authorities: read(counts[2]),
    additionals: read(counts[3]),
  };
}
