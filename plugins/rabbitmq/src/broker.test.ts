import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import type { BrokerEvent } from "@micro-ts/micro";
import { runBrokerConformance } from "@micro-ts/micro/conformance";
import { connect } from "amqplib";
import { rabbitmqBroker } from "./broker.js";

/** The shared RabbitMQ the tests run against; override with MICRO_RABBITMQ_URL. */
const URL_ = process.env["MICRO_RABBITMQ_URL"] ?? "amqp://guest:guest@127.0.0.1:5672";
// An exchange per run, deleted afterwards; group queues expire once unused.
const exchange = `micro-test-${randomUUID().slice(0, 8)}`;
const o = { url: URL_, exchange, groupQueueExpires: 30_000 };

after(async () => {
  const c = await connect(URL_);
  const ch = await c.createChannel();
  await ch.deleteExchange(exchange);
  await c.close();
});

runBrokerConformance({
  name: "rabbitmq",
  create: () => rabbitmqBroker(o),
  createPair: async () => {
    const a = rabbitmqBroker(o);
    const b = rabbitmqBroker(o);
    await Promise.all([a.connect(), b.connect()]);
    return [a, b];
  },
});

describe("rabbitmq broker specifics", () => {
  const text = (s: string) => new TextEncoder().encode(s);

  it("routes through the topic exchange; a group shares the durable queue <exchange>.<topic>.<group>", async (t) => {
    const b = rabbitmqBroker(o);
    const c = await connect(URL_);
    const ch = await c.createChannel();
    ch.on("error", () => undefined);
    t.after(async () => {
      await b.close();
      await c.close().catch(() => undefined);
    });
    const topic = `layout.${randomUUID()}`;
    const got = new Promise<BrokerEvent>((resolve) => void b.subscribe(topic, resolve, { queue: "workers" }).then(() => {
      // A plain AMQP publisher reaches it through the exchange, headers and all.
      ch.publish(exchange, topic, Buffer.from("hi"), { headers: { "x-from": "amqp" } });
    }));
    const ev = await got;
    assert.equal(ev.topic, topic);
    assert.equal(ev.header["x-from"], "amqp");
    assert.equal(Buffer.from(ev.body).toString(), "hi");
    const q = await ch.checkQueue(`${exchange}.${topic}.workers`);
    assert.equal(q.consumerCount, 1);
    await ch.deleteQueue(`${exchange}.${topic}.workers`);
  });

  it("with requeueOnError, a failed message is redelivered once, then dropped", async (t) => {
    const b = rabbitmqBroker({ ...o, requeueOnError: true });
    t.after(() => b.close());
    const topic = `requeue.${randomUUID()}`;
    const seen: string[] = [];
    let sawMarker: () => void = () => undefined;
    let sawTwice: () => void = () => undefined;
    const twice = new Promise<void>((r) => (sawTwice = r));
    const markerSeen = new Promise<void>((r) => (sawMarker = r));
    await b.subscribe(topic, (ev) => {
      const body = Buffer.from(ev.body).toString();
      seen.push(body);
      if (body === "marker") sawMarker();
      if (seen.filter((x) => x === "x").length === 2) sawTwice();
      throw new Error("fails on purpose");
    });
    const ok: string[] = [];
    await b.subscribe(topic, (ev) => void ok.push(Buffer.from(ev.body).toString()));
    await b.publish(topic, { header: {}, body: text("x") });
    await twice;
    // A marker published after the redelivery: a third delivery of "x" would be requeued ahead of it.
    await b.publish(topic, { header: {}, body: text("marker") });
    await markerSeen;
    assert.deepEqual(seen, ["x", "x", "marker"], "x delivered, requeued once, then dropped");
    assert.deepEqual(ok, ["x", "marker"]);
  });
});
