import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import type { BrokerEvent } from "@micro-ts/micro";
import { runBrokerConformance } from "@micro-ts/micro/conformance";
import { connectAsync } from "mqtt";
import { fromMqttTopic, mqttBroker, toMqttTopic } from "./broker.js";

/** The shared Mosquitto the tests run against; override with MICRO_MQTT_URL. */
const URL_ = process.env["MICRO_MQTT_URL"] ?? "mqtt://127.0.0.1:1883";
// A topic prefix per run: nothing this run publishes reaches another run's subscribers.
const topicPrefix = `micro-test-${randomUUID().slice(0, 8)}/`;
const o = { url: URL_, topicPrefix };

runBrokerConformance({
  name: "mqtt",
  create: () => mqttBroker(o),
  createPair: async () => {
    const a = mqttBroker(o);
    const b = mqttBroker(o);
    await Promise.all([a.connect(), b.connect()]);
    return [a, b];
  },
});

describe("mqtt broker specifics", () => {
  it("maps . to / and back", () => {
    assert.equal(toMqttTopic("orders.created", "p/"), "p/orders/created");
    assert.equal(fromMqttTopic("p/orders/created", "p/"), "orders.created");
  });

  it("publishes to <prefix><topic with / for .>, headers as MQTT 5 user properties; groups are $share subscriptions", async (t) => {
    const b = mqttBroker(o);
    const raw = await connectAsync(URL_, { protocolVersion: 5 });
    t.after(async () => {
      await b.close();
      await raw.endAsync();
    });
    const topic = `layout.${randomUUID()}`;
    const mqttTopic = `${topicPrefix}layout/${topic.slice("layout.".length)}`;
    // A plain MQTT 5 subscriber sees what the broker publishes.
    const seen = new Promise<{ topic: string; props: unknown; body: string }>((resolve) =>
      raw.on("message", (tp, payload, packet) => resolve({ topic: tp, props: packet.properties?.userProperties, body: payload.toString() })),
    );
    await raw.subscribeAsync(mqttTopic, { qos: 1 });
    await b.publish(topic, { header: { "x-id": "1" }, body: new TextEncoder().encode("hi") });
    const m = await seen;
    assert.equal(m.topic, mqttTopic);
    assert.deepEqual({ ...(m.props as object) }, { "x-id": "1" });
    assert.equal(m.body, "hi");
    // A plain MQTT 5 shared subscriber in the same group competes with the broker's group member.
    const got = new Promise<BrokerEvent>((resolve) => void b.subscribe(topic, resolve, { queue: "g" }));
    await raw.unsubscribeAsync(mqttTopic);
    await raw.publishAsync(mqttTopic, "from-mqtt", { qos: 1, properties: { userProperties: { "x-from": "raw" } } });
    const ev = await got;
    assert.equal(ev.topic, topic);
    assert.equal(ev.header["x-from"], "raw");
  });

  it("publishes a message without headers (no empty user-properties list)", async (t) => {
    const b = mqttBroker(o);
    t.after(() => b.close());
    const topic = `noheaders.${randomUUID()}`;
    let resolveGot!: (ev: BrokerEvent) => void;
    const got = new Promise<BrokerEvent>((resolve) => (resolveGot = resolve));
    await b.subscribe(topic, (ev) => resolveGot(ev));
    await b.publish(topic, { header: {}, body: new TextEncoder().encode("bare") });
    const ev = await got;
    assert.equal(new TextDecoder().decode(ev.body), "bare");
    assert.deepEqual(ev.header, {});
  });
});
