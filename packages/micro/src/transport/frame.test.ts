import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeFrame, FLAGS, FrameDecoder, FrameError, PREFIX, type Frame } from "./frame.js";

function decodeAll(chunks: Buffer[], max = 1 << 20): Frame[] {
  const out: Frame[] = [];
  const d = new FrameDecoder(max, (f) => out.push({ ...f, header: { ...f.header }, body: Buffer.from(f.body) }));
  for (const c of chunks) d.push(c);
  return out;
}

/** A frame built by hand: length, stream id, flags, header-block length, then raw bytes. */
function raw(id: number, flags: number, hlen: number, rest: Buffer, length = PREFIX - 4 + rest.length): Buffer {
  const b = Buffer.alloc(PREFIX);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(id, 4);
  b[8] = flags;
  b.writeUInt16BE(hlen, 9);
  return Buffer.concat([b, rest]);
}

const frames: Frame[] = [
  { id: 1, flags: FLAGS.message | FLAGS.end, header: { "micro-endpoint": "Greeter.Hello", "x-ünï": "çödé ✓" }, body: Buffer.from([0, 1, 2, 255]) },
  { id: 2, flags: FLAGS.end, header: {}, body: Buffer.alloc(0) },
  { id: 0xfffffffe, flags: FLAGS.message, header: { "x-empty": "" }, body: Buffer.alloc(70_000, 9) },
  { id: 3, flags: FLAGS.reset, header: {}, body: Buffer.alloc(0) },
];

describe("frame codec", () => {
  it("round-trips frames with unicode headers, empty values, empty and binary bodies", () => {
    const got = decodeAll(frames.map((f) => encodeFrame(f.id, f.flags, f.header, f.body)));
    assert.deepEqual(got, frames);
  });

  it("writes the documented layout: u32 length, u32 id, u8 flags, u16 header bytes, headers, body", () => {
    const b = encodeFrame(7, FLAGS.message, { a: "b" }, Buffer.from("xyz"));
    assert.deepEqual([...b], [0, 0, 0, 13, 0, 0, 0, 7, 1, 0, 3, 0x61, 0, 0x62, 0x78, 0x79, 0x7a]);
  });

  it("decodes frames split at every byte, and many frames in one chunk", () => {
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f.id, f.flags, f.header, f.body)));
    const byByte: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) byByte.push(wire.subarray(i, i + 1));
    assert.deepEqual(decodeAll(byByte), frames);
    assert.deepEqual(decodeAll([wire]), frames);
    for (const cut of [1, 4, 10, 11, 12, 30, wire.length - 1]) {
      assert.deepEqual(decodeAll([wire.subarray(0, cut), wire.subarray(cut)]), frames, `cut at ${cut}`);
    }
  });

  it("rejects a frame longer than the limit as soon as its length is read", () => {
    const d = new FrameDecoder(100, () => assert.fail("no frame expected"));
    assert.throws(() => d.push(raw(1, FLAGS.message, 0, Buffer.alloc(0), 101).subarray(0, 4)), FrameError);
  });

  it("rejects a header block that overruns the frame", () => {
    assert.throws(() => decodeAll([raw(1, FLAGS.message, 50, Buffer.from("a\0b"))]), FrameError);
  });

  it("rejects a header block with an odd number of parts", () => {
    assert.throws(() => decodeAll([raw(1, FLAGS.message, 5, Buffer.from("a\0b\0c"))]), FrameError);
  });

  it("rejects a frame too short to hold its prefix", () => {
    assert.throws(() => decodeAll([raw(1, FLAGS.message, 0, Buffer.alloc(0), 3)]), FrameError);
  });

  it("refuses to encode a header block over 64 KiB", () => {
    assert.throws(() => encodeFrame(1, FLAGS.message, { big: "x".repeat(70_000) }, undefined), FrameError);
  });
});
