import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CLASS_IN,
  CLASS_TOP_BIT,
  DnsError,
  FLAG_AUTHORITATIVE,
  FLAG_RESPONSE,
  TYPES,
  decodeMessage,
  encodeMessage,
  type Message,
} from "./dns.js";

const isMalformed = (e: unknown) => e instanceof DnsError && e.code === "ERR_DNS_MALFORMED";

const sample: Message = {
  id: 0,
  flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE,
  questions: [{ name: "greeter.micro.", type: TYPES.PTR, class: CLASS_IN | CLASS_TOP_BIT }],
  answers: [
    {
      name: "greeter.micro.",
      type: TYPES.PTR,
      class: CLASS_IN,
      ttl: 120,
      data: "node-1.greeter.micro.",
    },
    {
      name: "node-1.greeter.micro.",
      type: TYPES.SRV,
      class: CLASS_IN | CLASS_TOP_BIT,
      ttl: 120,
      data: { priority: 1, weight: 2, port: 8080, target: "node-1.greeter.micro." },
    },
    {
      name: "node-1.greeter.micro.",
      type: TYPES.TXT,
      class: CLASS_IN,
      ttl: 120,
      data: ["a".repeat(255), "b", ""],
    },
  ],
  authorities: [
    { name: "x.micro.", type: 99, class: CLASS_IN, ttl: 7, data: new Uint8Array([1, 2, 3]) },
  ],
  additionals: [
    { name: "node-1.greeter.micro.", type: TYPES.A, class: CLASS_IN, ttl: 0, data: "127.0.0.1" },
    {
      name: "node-1.greeter.micro.",
      type: TYPES.AAAA,
      class: CLASS_IN,
      ttl: 4294967295,
      data: "fe80:0:0:0:0:0:0:1",
    },
  ],
};

describe("dns messages", () => {
  it("round-trips questions and A, AAAA, PTR, SRV, TXT and unknown records", () => {
    assert.deepEqual(decodeMessage(encodeMessage(sample)), sample);
  });

  it("compresses repeated names", () => {
    const buf = encodeMessage(sample);
    const once = Buffer.from("node-1");
    assert.equal(buf.indexOf(once), buf.lastIndexOf(once), "the instance name is written once");
  });

  it("writes IPv6 addresses in their compressed and v4-mapped forms", () => {
    const rr = (data: string) => ({ name: "h.", type: TYPES.AAAA, class: CLASS_IN, ttl: 1, data });
    const dec = decodeMessage(
      encodeMessage({ answers: [rr("::1"), rr("::ffff:127.0.0.1"), rr("2001:db8::8:1")] }),
    );
    assert.deepEqual(
      dec.answers.map((a) => a.data),
      ["0:0:0:0:0:0:0:1", "0:0:0:0:0:ffff:7f00:1", "2001:db8:0:0:0:0:8:1"],
    );
  });

  it("refuses to encode over-long labels, TXT strings and bad addresses", () => {
    assert.throws(
      () =>
        encodeMessage({ questions: [{ name: `${"x".repeat(64)}.micro.`, type: 12, class: 1 }] }),
      isMalformed,
    );
    assert.throws(
      () => encodeMessage({ questions: [{ name: "a..b.", type: 12, class: 1 }] }),
      isMalformed,
    );
    const txt = { name: "t.", type: TYPES.TXT, class: CLASS_IN, ttl: 1, data: ["x".repeat(256)] };
    assert.throws(() => encodeMessage({ answers: [txt] }), isMalformed);
    const a = { name: "t.", type: TYPES.A, class: CLASS_IN, ttl: 1, data: "not-an-ip" };
    assert.throws(() => encodeMessage({ answers: [a] }), isMalformed);
  });

  it("rejects every truncation of a valid message with a DnsError", () => {
    const buf = encodeMessage(sample);
    for (let n = 0; n < buf.length; n++)
      assert.throws(() => decodeMessage(buf.subarray(0, n)), isMalformed, `length ${n}`);
  });

  it("never throws anything but a DnsError on corrupted bytes", () => {
    const buf = encodeMessage(sample);
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(buf);
      for (let k = 0; k < 3; k++) b[rand() % b.length] = rand() & 0xff;
      try {
        decodeMessage(b);
      } catch (e) {
        assert.ok(isMalformed(e), String(e));
      }
    }
  });

  it("rejects name-pointer loops and forward pointers", () => {
    const header = Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const self = Buffer.concat([header, Buffer.from([0xc0, 12, 0, 12, 0, 1])]);
    assert.throws(() => decodeMessage(self), isMalformed);
    const forward = Buffer.concat([header, Buffer.from([0xc0, 20, 0, 12, 0, 1, 1, 0x61, 0])]);
    assert.throws(() => decodeMessage(forward), isMalformed);
  });

  it("rejects record counts larger than the message could hold", () => {
    const buf = Buffer.from([0, 0, 0x84, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
    assert.throws(() => decodeMessage(buf), isMalformed);
  });

  it("rejects a record whose data overruns its stated length", () => {
    const buf = encodeMessage({
      answers: [{ name: "a.", type: TYPES.A, class: CLASS_IN, ttl: 1, data: "1.2.3.4" }],
    });
    const bad = Buffer.from(buf);
    bad.writeUInt16BE(3, bad.length - 6); // RDLENGTH 3 for an A record
    assert.throws(() => decodeMessage(bad), isMalformed);
  });
});
