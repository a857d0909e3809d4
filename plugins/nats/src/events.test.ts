import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Event } from "@micro-ts/micro";
import { runEventsConformance } from "@micro-ts/micro/conformance";
import { connect } from "nats";
import { EVENT_HEADERS } from "./events-codec.js";
import { natsEvents } from "./events.js";
import { encodeName } from "./names.js";
import { NATS_ADDRESS } from "./test-env.js";

// A prefix per run: reruns never see an earlier run's streams, and cleanup finds ours.
const run = randomUUID().slice(0, 8);
const streamPrefix = `micro-test-${run}-`;
const subjectPrefix = `micro.test.${run}`;

runEventsConformance({
  name: "nats jetstream",
  create: () => natsEvents({ servers: NATS_ADDRESS, streamPrefix, subjectPrefix }),
});

after(async () => {
  const nc = await connect({ servers: NATS_ADDRESS });
  const jsm = await nc.jetstreamManager();
  const ours: string[] = [];
  for await (const si of jsm.streams.list()) if (si.config.name.startsWith(streamPrefix)) ours.push(si.config.name);
  for (const name of ours) await jsm.streams.delete(name);
  await nc.close();
});

describe("nats events specifics", () => {
  const make = () => natsEvents({ servers: NATS_ADDRESS, streamPrefix, subjectPrefix });

  it("stores a topic in its own stream on one subject, payload as the body and fields in headers", async () => {
    const ev = make();
    const nc = await connect({ servers: NATS_ADDRESS });
    try {
      const topic = `orders.created ${randomUUID().slice(0, 4)}`; // dots and a space
      const id = await ev.publish(topic, { n: 1 }, { metadata: { k: "v" } });
      const jsm = await nc.jetstreamManager();
      const stream = `${streamPrefix}${encodeName(topic)}`;
      const si = await jsm.streams.info(stream);
      assert.deepEqual(si.config.subjects, [`${subjectPrefix}.${encodeName(topic)}`]);
      const m = await jsm.streams.getMessage(stream, { seq: 1 });
      assert.equal(new TextDecoder().decode(m.data), '{"n":1}');
      assert.equal(m.header.get(EVENT_HEADERS.id), id);
      assert.equal(m.header.get(EVENT_HEADERS.payload), "json");
      assert.deepEqual(JSON.parse(m.header.get(EVENT_HEADERS.metadata)), { k: "v" });
      assert.ok((await ev.topics()).includes(topic));
    } finally {
      await ev.close();
      await nc.close();
    }
  });

  it("dead-letters an event whose final delivery is never acked within ackWait", async () => {
    const ev = make();
    try {
      const t = `noack-${randomUUID().slice(0, 8)}`;
      const it = ev.consume(t, { group: "g", autoAck: false, ackWait: 200, retryLimit: 1 })[Symbol.asyncIterator]();
      const dead = ev.consume(`${t}.dead`, { offset: "earliest" })[Symbol.asyncIterator]();
      const id = await ev.publish(t, "ignored");
      assert.equal(((await it.next()).value as Event).deliveries, 1);
      assert.equal(((await it.next()).value as Event).deliveries, 2); // ackWait passed: redelivered
      // Never acked again: while the loop asks for more, the server gives up (max_deliver)
      // and emits the advisory on which the event is parked.
      const asking = it.next();
      const d = (await dead.next()).value as Event;
      assert.equal(d.payload, "ignored");
      assert.equal(d.metadata["dead-id"], id);
      assert.equal(d.metadata["dead-deliveries"], "2");
      await ev.publish(t, "after");
      assert.equal(((await asking).value as Event).payload, "after", "the parked event is not redelivered");
      await it.return!();
      await dead.return!();
      assert.equal((await ev.read(`${t}.dead`)).length, 1, "parked once, however many members saw the advisory");
    } finally {
      await ev.close();
    }
  });
});
