/**
 * The wire format of `natsTransport`: how one Micro message travels as one or more NATS
 * messages. Micro headers are NATS headers (escaped like the broker's); the transport's own
 * control fields live in `Micro-Nats-*` headers that never reach the application.
 *
 *   Micro-Nats-Kind   what the NATS message is (see KIND)
 *   Micro-Nats-Call   the call's key: the server's per-call control subject ends with it
 *   Micro-Nats-Seq    position of a streamed message (0, 1, ...), checked by the caller
 *   Micro-Nats-More   "1" on every chunk of a message except its last (bodies above the
 *                     server's max_payload are split; NATS keeps one publisher's order)
 *   Micro-Nats-Final  "1" on an end marker that carries the final message of end(msg)
 *   Micro-Nats-Credit bytes the caller consumed so far (stream flow control)
 */
import type { Message } from "@micro-ts/micro";
import { headers as natsHeaders, type MsgHdrs } from "nats";
import { decodeHeaders, encodeHeaders } from "./broker.js";

export const KIND = {
  /** client → server subject: a unary call */
  unary: "u",
  /** client → server subject: a server-streaming call */
  stream: "s",
  /** client → server subject: are you there? (answered at once) */
  ping: "p",
  /** server → caller inbox: one streamed message */
  item: "m",
  /** server → caller inbox: the reply / end of stream */
  end: "e",
  /** server → caller inbox: the call failed in the transport (listener closed): a retryable 503 */
  fail: "x",
  /** server → caller inbox: is the caller still there? (the caller answers) */
  probe: "q",
  /** client → per-call control subject: cancel */
  cancel: "c",
  /** client → per-call control subject: flow-control credit */
  credit: "k",
} as const;

export const H = {
  kind: "Micro-Nats-Kind",
  call: "Micro-Nats-Call",
  seq: "Micro-Nats-Seq",
  more: "Micro-Nats-More",
  final: "Micro-Nats-Final",
  credit: "Micro-Nats-Credit",
} as const;

const CONTROL = new Set<string>(Object.values(H));

export interface Control {
  kind: string;
  call?: string;
  seq?: number;
  more?: boolean;
  final?: boolean;
  credit?: number;
}

/** The NATS headers for a control message with no Micro headers. */
export function controlHeaders(c: Control): MsgHdrs {
  const h = natsHeaders();
  setControl(h, c);
  return h;
}

function setControl(h: MsgHdrs, c: Control): void {
  h.set(H.kind, c.kind);
  if (c.call !== undefined) h.set(H.call, c.call);
  if (c.seq !== undefined) h.set(H.seq, String(c.seq));
  if (c.more) h.set(H.more, "1");
  if (c.final) h.set(H.final, "1");
  if (c.credit !== undefined) h.set(H.credit, String(c.credit));
}

export function readControl(h: MsgHdrs | undefined): Control {
  if (!h) return { kind: "" };
  const seq = h.get(H.seq);
  const credit = h.get(H.credit);
  return {
    kind: h.get(H.kind),
    call: h.get(H.call) || undefined,
    ...(seq ? { seq: Number(seq) } : {}),
    more: h.get(H.more) === "1",
    final: h.get(H.final) === "1",
    ...(credit ? { credit: Number(credit) } : {}),
  };
}

/** The Micro headers of a NATS message, without the transport's control fields. */
export function microHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out = decodeHeaders(h);
  for (const k of Object.keys(out)) if (CONTROL.has(k)) delete out[k];
  return out;
}

export interface Part {
  headers: MsgHdrs;
  body: Uint8Array;
}

/**
 * Splits a Micro message into NATS messages of at most `chunk` body bytes: the first carries
 * the Micro headers, every one carries the control fields, all but the last say "more".
 */
export function parts(msg: Message | undefined, c: Control, chunk: number): Part[] {
  const body = msg?.body ?? new Uint8Array(0);
  const out: Part[] = [];
  let off = 0;
  do {
    const end = Math.min(body.byteLength, off + chunk);
    const h = off === 0 && msg ? (encodeHeaders(msg.header) ?? natsHeaders()) : natsHeaders();
    setControl(h, { ...c, more: end < body.byteLength });
    out.push({ headers: h, body: off === 0 && end === body.byteLength ? body : body.subarray(off, end) });
    off = end;
  } while (off < body.byteLength);
  return out;
}

/** Reassembles chunked messages, one at a time (NATS delivers one publisher's chunks in order). */
export class Assembler {
  private header: Record<string, string> | undefined;
  private chunks: Uint8Array[] = [];

  /** Adds a NATS message; returns the whole Micro message once its last chunk is in. */
  add(h: MsgHdrs | undefined, data: Uint8Array, more: boolean): Message | undefined {
    this.header ??= microHeaders(h);
    if (more) {
      this.chunks.push(data);
      return undefined;
    }
    let body = data;
    if (this.chunks.length > 0) {
      this.chunks.push(data);
      body = Buffer.concat(this.chunks);
    }
    const m = { header: this.header, body };
    this.header = undefined;
    this.chunks = [];
    return m;
  }
}
