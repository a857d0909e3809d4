/** Failure behaviour against real sockets: the RabbitMQ server unreachable at start. */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { describe, it } from "node:test";
import { MicroError } from "@micro-ts/micro";
import { rabbitmqBroker } from "./broker.js";

function listen(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });
}

/** A port nothing listens on (bound by the OS, then released). */
async function unusedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const unavailable = (address: string) => (e: unknown) =>
  e instanceof MicroError && e.code === 503 && e.detail.includes(address) && /RabbitMQ/.test(e.detail);

describe("rabbitmq faults: engine unreachable at start", () => {
  it("fails connect, publish and subscribe with a 503 naming RabbitMQ and the address when nothing listens", async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const broker = rabbitmqBroker({ url: `amqp://${address}`, timeout: 1000 });
    const start = Date.now();
    await assert.rejects(broker.connect(), unavailable(address));
    await assert.rejects(broker.publish("t", { header: {}, body: new Uint8Array() }), unavailable(address));
    await assert.rejects(broker.subscribe("t", () => undefined), unavailable(address));
    assert.ok(Date.now() - start < 3 * 1000, "each attempt ends within its timeout");
    await broker.close();
    await broker.close();
  });

  it("gives up within the configured timeout when the address accepts but never answers", async () => {
    const accepted = new Set<Socket>();
    const silent = createServer((sock) => accepted.add(sock));
    const address = `127.0.0.1:${await listen(silent)}`;
    const broker = rabbitmqBroker({ url: `amqp://${address}`, timeout: 500 });
    try {
      const start = Date.now();
      await assert.rejects(broker.connect(), unavailable(address));
      const took = Date.now() - start;
      assert.ok(took < 500 + 1500, `gave up after ${took} ms`);
    } finally {
      await broker.close();
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
