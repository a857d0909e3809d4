/**
 * The shared events suite: every implementation, in core or in a plugin, runs it.
 *   runEventsConformance({ name: "memory", create: () => memoryEvents() })
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import type { Consumer, Event, Events } from "./events.js";

export interface EventsConformanceOptions {
  name: string;
  create: () => Events | Promise<Events>;
  /** Called after each instance is closed (remove its directory, ...). */
  cleanup?: (ev: Events) => void | Promise<void>;
  /** How long to wait for an expected event, in ms. @default 5000 */
  timeout?: number;
}

export function runEventsConformance(opts: EventsConformanceOptions): void {
  const wait = opts.timeout ?? 5000;
  describe(`events conformance: ${opts.name}`, () => {
    const open: Events[] = [];
    after(async () => {
      for (const ev of open) {
        await ev.close();
        await opts.cleanup?.(ev);
      }
    });
    const make = async () => {
      const ev = await opts.create();
      open.push(ev);
      return ev;
    };
    const topic = () => `t-${randomUUID().slice(0, 8)}`;

    /** Reads the next event, failing if none arrives in time (or the consumer ended). */
    const next = async (it: AsyncIterator<Event>, ms = wait): Promise<Event> => {
      let t: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error("no event in time")), ms);
      });
      try {
        const r = await Promise.race([it.next(), deadline]);
        assert.equal(r.done, false, "consumer ended");
        return r.value as Event;
      } finally {
        clearTimeout(t);
      }
    };
    const iter = (c: Consumer) => c[Symbol.asyncIterator]();

    it("delivers events to a consumer in publish order, with id, topic and sequence", async () => {
      const ev = await make();
      const t = topic();
      const c = ev.consume(t);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await ev.publish(t, { n: i }));
      const it = iter(c);
      for (let i = 0; i < 20; i++) {
        const e = await next(it);
        assert.deepEqual(e.payload, { n: i });
        assert.equal(e.id, ids[i]);
        assert.equal(e.topic, t);
        assert.equal(e.sequence, i + 1);
        assert.equal(e.deliveries, 1);
        assert.ok(e.timestamp instanceof Date);
      }
      await c.stop();
    });

    it("shares a group's events among its members, each event to one member", async () => {
      const ev = await make();
      const t = topic();
      const a = iter(ev.consume(t, { group: "g" }));
      const b = iter(ev.consume(t, { group: "g" }));
      const pa = next(a);
      const pb = next(b);
      await ev.publish(t, 1);
      await ev.publish(t, 2);
      const got = [(await pa).payload, (await pb).payload].sort();
      assert.deepEqual(got, [1, 2]);
      await a.return!();
      await b.return!();
    });

    it("gives every event to each separate group, and to each consumer without a group", async () => {
      const ev = await make();
      const t = topic();
      const cs = [ev.consume(t, { group: "x" }), ev.consume(t, { group: "y" }), ev.consume(t), ev.consume(t)];
      await ev.publish(t, "a");
      await ev.publish(t, "b");
      for (const c of cs) {
        const it = iter(c);
        assert.deepEqual([(await next(it)).payload, (await next(it)).payload], ["a", "b"]);
        await c.stop();
      }
    });

    it("starts a new group at the latest event by default, at the earliest, a count or a date when asked", async () => {
      const ev = await make();
      const t = topic();
      await ev.publish(t, 0, { timestamp: new Date("2020-01-01T00:00:00Z") });
      await ev.publish(t, 1, { timestamp: new Date("2021-01-01T00:00:00Z") });
      await ev.publish(t, 2, { timestamp: new Date("2022-01-01T00:00:00Z") });
      const latest = iter(ev.consume(t));
      const earliest = iter(ev.consume(t, { offset: "earliest" }));
      const skip2 = iter(ev.consume(t, { offset: 2 }));
      const since = iter(ev.consume(t, { offset: new Date("2020-06-01T00:00:00Z") }));
      await ev.publish(t, 3);
      assert.equal((await next(latest)).payload, 3);
      assert.equal((await next(earliest)).payload, 0);
      assert.equal((await next(skip2)).payload, 2);
      assert.equal((await next(since)).payload, 1);
      for (const i of [latest, earliest, skip2, since]) await i.return!();
    });

    it("a group continues after its acked position when a consumer rejoins", async () => {
      const ev = await make();
      const t = topic();
      const c1 = ev.consume(t, { group: "g", offset: "earliest" });
      await ev.publish(t, 1);
      await ev.publish(t, 2);
      const it1 = iter(c1);
      assert.equal((await next(it1)).payload, 1);
      assert.equal((await next(it1)).payload, 2);
      await it1.return!(); // autoAck acks 2 on leaving the loop
      await ev.publish(t, 3);
      const it2 = iter(ev.consume(t, { group: "g", offset: "earliest" }));
      assert.equal((await next(it2)).payload, 3);
      await it2.return!();
    });

    it("with manual ack, redelivers only the events not acked within ackWait", async () => {
      const ev = await make();
      const t = topic();
      const it = iter(ev.consume(t, { autoAck: false, ackWait: 100 }));
      await ev.publish(t, "acked");
      await ev.publish(t, "dropped");
      const e1 = await next(it);
      await e1.ack();
      const e2 = await next(it);
      assert.equal(e2.payload, "dropped");
      const again = await next(it);
      assert.equal(again.id, e2.id);
      assert.equal(again.deliveries, 2);
      await again.ack();
      await it.return!();
    });

    it("redelivers a nacked event at once, counting the delivery", async () => {
      const ev = await make();
      const t = topic();
      const it = iter(ev.consume(t, { autoAck: false, ackWait: 60_000 }));
      await ev.publish(t, "x");
      const e = await next(it);
      await e.nack();
      const again = await next(it, 2000);
      assert.equal(again.id, e.id);
      assert.equal(again.deliveries, 2);
      await again.ack();
      await it.return!();
    });

    it("parks an event in <topic>.dead after retryLimit failed redeliveries", async () => {
      const ev = await make();
      const t = topic();
      const it = iter(ev.consume(t, { autoAck: false, ackWait: 60_000, retryLimit: 1 }));
      const dead = iter(ev.consume(`${t}.dead`, { offset: "earliest" }));
      const id = await ev.publish(t, { bad: true }, { metadata: { k: "v" } });
      await (await next(it)).nack();
      const e2 = await next(it);
      assert.equal(e2.deliveries, 2);
      await e2.nack();
      const d = await next(dead);
      assert.deepEqual(d.payload, { bad: true });
      assert.equal(d.metadata["dead-topic"], t);
      assert.equal(d.metadata["dead-id"], id);
      assert.equal(d.metadata["k"], "v");
      await ev.publish(t, "after");
      assert.equal((await next(it)).payload, "after", "the parked event is not redelivered");
      await it.return!();
      await dead.return!();
    });

    it("replays stored events with limit and offset", async () => {
      const ev = await make();
      const t = topic();
      for (let i = 0; i < 10; i++) await ev.publish(t, i);
      assert.deepEqual((await ev.read(t)).map((e) => e.payload), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const page = await ev.read(t, { offset: 3, limit: 4 });
      assert.deepEqual(page.map((e) => e.payload), [3, 4, 5, 6]);
      assert.deepEqual(page.map((e) => e.sequence), [4, 5, 6, 7]);
      assert.deepEqual(await ev.read(t, { offset: 20 }), []);
      assert.deepEqual(await ev.read(topic()), []);
      assert.ok((await ev.topics()).includes(t));
    });

    it("round-trips metadata, timestamps and byte payloads", async () => {
      const ev = await make();
      const t = topic();
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      const ts = new Date("2024-05-06T07:08:09.123Z");
      await ev.publish(t, bytes, { metadata: { a: "1", "content-type": "application/octet-stream" }, timestamp: ts });
      bytes[0] = 9; // the stored event is a copy
      const [e] = await ev.read(t);
      assert.ok(e);
      assert.deepEqual(e.payload, new Uint8Array([0, 1, 2, 254, 255]));
      assert.deepEqual(e.metadata, { a: "1", "content-type": "application/octet-stream" });
      assert.equal(e.timestamp.getTime(), ts.getTime());
    });

    it("stop() ends the consumer's loop", async () => {
      const ev = await make();
      const t = topic();
      const c = ev.consume(t);
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const e of c) seen.push(e.payload);
      })();
      await ev.publish(t, 1);
      await c.stop();
      await loop;
      const ac = new AbortController();
      const c2 = ev.consume(t, { signal: ac.signal });
      const loop2 = (async () => {
        for await (const _ of c2) void _;
      })();
      ac.abort();
      await loop2;
    });

    it("gives a stopped member's unacked events to another member of the group", async () => {
      const ev = await make();
      const t = topic();
      const a = ev.consume(t, { group: "g", autoAck: false, ackWait: 60_000 });
      for (let i = 0; i < 4; i++) await ev.publish(t, i);
      const ia = iter(a);
      const batch = [await next(ia), await next(ia), await next(ia)];
      await batch[0]!.ack();
      const ib = iter(ev.consume(t, { group: "g", autoAck: false, ackWait: 60_000 }));
      await a.stop();
      const got = [await next(ib), await next(ib), await next(ib)];
      assert.deepEqual(got.map((e) => e.payload), [1, 2, 3]);
      for (const e of got) await e.ack();
      await ib.return!();
    });

    it("rejects an empty topic and a non-JSON payload with 400", async () => {
      const ev = await make();
      await assert.rejects(ev.publish("", 1), (e: unknown) => e instanceof MicroError && e.code === 400);
      await assert.rejects(ev.publish(topic(), undefined), (e: unknown) => e instanceof MicroError && e.code === 400);
      await assert.rejects(ev.publish(topic(), 10n), (e: unknown) => e instanceof MicroError && e.code === 400);
    });

    it("ends consumers on close and refuses later calls with 503", async () => {
      const ev = await opts.create();
      const t = topic();
      const c = ev.consume(t);
      const loop = (async () => {
        for await (const _ of c) void _;
      })();
      await ev.close();
      await loop;
      await assert.rejects(ev.publish(t, 1), (e: unknown) => e instanceof MicroError && e.code === 503);
      await opts.cleanup?.(ev);
    });
  });
}
