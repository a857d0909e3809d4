import assert from "node:assert/strict";
import net from "node:net";
import { describe, it, type TestContext } from "node:test";
import { runTransportConformance } from "./conformance.js";
import { FLAGS, PREFIX } from "./frame.js";
import { tcpTransport } from "./tcp.js";
import { splitHostPort, type Connection } from "./transport.js";

runTransportConformance({ name: "tcp", create: () => tcpTransport() });

function frameHead(length: number, hlen: number): Buffer {
  const b = Buffer.alloc(PREFIX);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(1, 4);
  b[8] = FLAGS.message | FLAGS.end;
  b.writeUInt16BE(hlen, 9);
  return b;
}

const bad: Record<string, Buffer> = {
  "a header block overrunning its frame": Buffer.concat([frameHead(PREFIX - 4 + 3, 40), Buffer.from("a\0b")]),
  "a header block with an odd number of parts": Buffer.concat([frameHead(PREFIX - 4 + 5, 5), Buffer.from("a\0b\0c")]),
  "a frame longer than maxFrameBytes": frameHead(4096, 0),
  "a frame too short for its prefix": frameHead(2, 0),
};

async function serve(t: TestContext): Promise<{ address: string; good: Connection }> {
  const transport = tcpTransport({ maxFrameBytes: 1024 });
  const l = await transport.listen("127.0.0.1:0", (s) => s.end({ header: { "x-ok": "1" }, body: s.request.body }));
  t.after(() => l.close());
  const good = await transport.dial(l.address);
  t.after(() => good.close());
  return { address: l.address, good };
}

describe("tcp transport", () => {
  for (const [what, bytes] of Object.entries(bad)) {
    it(`closes a connection that sends ${what} and keeps serving the others`, async (t) => {
      const { address, good } = await serve(t);
      const { host, port } = splitHostPort(address);
      const sock = net.connect({ host, port });
      t.after(() => sock.destroy());
      sock.on("error", () => {});
      await new Promise((r) => sock.once("connect", r));
      const closed = new Promise((r) => sock.once("close", r));
      sock.write(bytes);
      await closed;
      const rsp = await good.request({ header: {}, body: Buffer.from("still here") });
      assert.equal(rsp.header["x-ok"], "1");
      assert.equal(Buffer.from(rsp.body).toString(), "still here");
    });
  }

  it("fails the caller with a retryable 503 when a reply frame exceeds the client's limit", async (t) => {
    const big = tcpTransport({ maxFrameBytes: 1 << 20 });
    const l = await big.listen("127.0.0.1:0", (s) => s.end({ header: {}, body: new Uint8Array(4096) }));
    t.after(() => l.close());
    const conn = await tcpTransport({ maxFrameBytes: 1024 }).dial(l.address);
    t.after(() => conn.close());
    await assert.rejects(conn.request({ header: {}, body: new Uint8Array() }), (e: { code?: number; retryable?: boolean }) => {
      assert.equal(e.code, 503);
      assert.equal(e.retryable, true);
      return true;
    });
  });
});
