/**
 * The shared broker suite: every implementation, in core or in a plugin, runs it.
 *   runBrokerConformance({ name: "memory", create: () => memoryBroker() })
 * With `createPair`, publishers and subscribers sit on two brokers that see each other
 * (e.g. two HTTP brokers on one registry), so every delivery crosses instances.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { MicroError } from "../errors/errors.js";
import type { Broker, BrokerEvent, BrokerHandler } from "./broker.js";

export interface BrokerConformanceOptions {
  name: string;
  create: () => Broker | Promise<Broker>;
  /** Two brokers that see each other's subscriptions. */
  createPair?: () => Promise<[Broker, Broker]>;
  /** How long an expected delivery may take, in ms. @default 5000 */
  timeout?: number;
  /** How long to watch for unexpected extra deliveries once the expected ones arrived, in ms. @default 150 */
  quiet?: number;
}

/** Records deliveries per named inbox and lets a test await a condition on them. */
class Deliveries {
  private readonly boxes = new Map<string, BrokerEvent[]>();
  private readonly checks = new Set<() => void>();

  inbox(name: string, behaviour: "ok" | "throw" | "reject" = "ok"): BrokerHandler {
    this.boxes.set(name, []);
    return (ev) => {
      this.get(name).push(ev);
      for (const c of this.checks) c();
      if (behaviour === "throw") throw new Error(`handler ${name} fails on purpose`);
      if (behaviour === "reject") return Promise.reject(new Error(`handler ${name} fails on purpose`));
      return undefined;
    };
  }

  get(name: string): BrokerEvent[] {
    const box = this.boxes.get(name);
    if (!box) throw new Error(`no inbox ${name}`);
    return box;
  }

  count(...names: string[]): number {
    return names.reduce((n, name) => n + this.get(name).length, 0);
  }

  ids(...names: string[]): string[] {
    return names.flatMap((n) => this.get(n).map((ev) => ev.header["x-id"] ?? "?")).sort();
  }

  /** Resolves once `pred` holds (checked on every delivery); rejects after `ms`. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.checks.delete(check);
        reject(new Error(`timed out waiting for ${what}: ${this.summary()}`));
      }, ms);
      const check = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.checks.delete(check);
        resolve();
      };
      this.checks.add(check);
    });
  }

  private summary(): string {
    return [...this.boxes].map(([k, v]) => `${k}=${v.length}`).join(" ");
  }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const msg = (id: string) => ({ header: { "x-id": id }, body: text(id) });
const range = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const topicName = (): string => `test.${randomUUID()}`;
const isClosed = (e: unknown): boolean => e instanceof MicroError && e.code === 503;

export function runBrokerConformance(opts: BrokerConformanceOptions): void {
  const timeout = opts.timeout ?? 5000;
  const quiet = opts.quiet ?? 150;

  /** `pub` publishes, `sub` hosts most subscribers; one broker when there is no pair. */
  async function setup(t: TestContext): Promise<{ pub: Broker; sub: Broker }> {
    const [pub, sub] = opts.createPair ? await opts.createPair() : await one();
    t.after(() => Promise.all([pub.close(), sub.close()]));
    return { pub, sub };
  }
  async function one(): Promise<[Broker, Broker]> {
    const b = await opts.create();
    return [b, b];
  }

  describe(`broker conformance: ${opts.name}`, () => {
    it("delivers every message to every fan-out subscriber, and none from other topics", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("a"));
      await sub.subscribe(topic, d.inbox("b"));
      await pub.subscribe(topic, d.inbox("c"));
      await sub.subscribe(topicName(), d.inbox("other"));
      const ids = range(5, "m");
      for (const id of ids) await pub.publish(topic, msg(id));
      await d.until(() => ["a", "b", "c"].every((n) => d.count(n) >= 5), timeout, "5 messages each");
      await delay(quiet);
      for (const n of ["a", "b", "c"]) {
        assert.deepEqual(d.ids(n), ids);
        for (const ev of d.get(n)) assert.equal(ev.topic, topic);
      }
      assert.equal(d.count("other"), 0);
    });

    it("delivers each message to exactly one member of each queue group", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("a1"), { queue: "a" });
      await sub.subscribe(topic, d.inbox("a2"), { queue: "a" });
      await pub.subscribe(topic, d.inbox("a3"), { queue: "a" });
      await sub.subscribe(topic, d.inbox("b1"), { queue: "b" });
      await pub.subscribe(topic, d.inbox("b2"), { queue: "b" });
      await sub.subscribe(topic, d.inbox("all"));
      const ids = range(24, "q");
      for (const id of ids) await pub.publish(topic, msg(id));
      const a = ["a1", "a2", "a3"];
      const b = ["b1", "b2"];
      await d.until(
        () => d.count(...a) >= 24 && d.count(...b) >= 24 && d.count("all") >= 24,
        timeout,
        "24 messages per group",
      );
      await delay(quiet);
      assert.deepEqual(d.ids(...a), [...ids].sort());
      assert.deepEqual(d.ids(...b), [...ids].sort());
      assert.deepEqual(d.ids("all"), [...ids].sort());
    });

    it("round-trips headers, binary bodies and empty bodies", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("s"));
      const bytes = new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), 0xff, 0xfe, 0, ...randomBytes(1000)]);
      const sent = new Uint8Array(bytes);
      const header = { "x-id": "bin", "Content-Type": "application/octet-stream", "X-Unicode": "héllo ✓ 世界", "x-empty": "" };
      await pub.publish(topic, { header, body: bytes });
      // The broker owns the message once publish resolved: reusing the buffer changes nothing.
      bytes.fill(7);
      await pub.publish(topic, { header: { "x-id": "empty" }, body: new Uint8Array(0) });
      await d.until(() => d.count("s") >= 2, timeout, "2 messages");
      const bin = d.get("s").find((ev) => ev.header["x-id"] === "bin");
      const empty = d.get("s").find((ev) => ev.header["x-id"] === "empty");
      assert.ok(bin && empty);
      assert.equal(bin.topic, topic);
      for (const [k, v] of Object.entries(header)) assert.equal(bin.header[k], v, `header ${k}`);
      assert.ok(bin.body instanceof Uint8Array);
      assert.equal(Buffer.compare(Buffer.from(bin.body), Buffer.from(sent)), 0);
      assert.equal(empty.body.byteLength, 0);
    });

    it("reaches a subscriber that subscribed after earlier publishes", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("early"));
      await pub.publish(topic, msg("1"));
      await sub.subscribe(topic, d.inbox("late"));
      await pub.subscribe(topic, d.inbox("group"), { queue: "g" });
      await pub.publish(topic, msg("2"));
      await d.until(() => d.count("early") >= 2 && d.count("late") >= 1 && d.count("group") >= 1, timeout, "2+1+1");
      await delay(quiet);
      assert.deepEqual(d.ids("early"), ["1", "2"]);
      assert.deepEqual(d.ids("late"), ["2"]);
      assert.deepEqual(d.ids("group"), ["2"]);
    });

    it("stops delivery once unsubscribe resolved; unsubscribe is idempotent", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      const gone = await sub.subscribe(topic, d.inbox("gone"));
      await sub.subscribe(topic, d.inbox("stays"));
      const q1 = await sub.subscribe(topic, d.inbox("q1"), { queue: "g" });
      await sub.subscribe(topic, d.inbox("q2"), { queue: "g" });
      assert.equal(gone.topic, topic);
      assert.equal(gone.queue, undefined);
      assert.equal(q1.queue, "g");
      await pub.publish(topic, msg("first"));
      await d.until(() => d.count("gone") === 1 && d.count("stays") === 1 && d.count("q1", "q2") === 1, timeout, "first");
      await gone.unsubscribe();
      await gone.unsubscribe();
      await q1.unsubscribe();
      const q2Before = d.count("q2");
      const ids = range(6, "after");
      for (const id of ids) await pub.publish(topic, msg(id));
      await d.until(() => d.count("stays") >= 7 && d.count("q2") >= q2Before + 6, timeout, "6 more");
      await delay(quiet);
      assert.equal(d.count("gone"), 1);
      assert.equal(d.count("q1") + d.count("q2"), 7);
      assert.equal(d.count("q2"), q2Before + 6);
    });

    it("resolves publish when the topic has no subscribers", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      await pub.publish(topicName(), msg("nobody"));
      const topic = topicName();
      const s = await sub.subscribe(topic, d.inbox("s"));
      await s.unsubscribe();
      await pub.publish(topic, msg("nobody either"));
      await delay(quiet);
      assert.equal(d.count("s"), 0);
    });

    it("keeps delivering when a handler throws or rejects", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("throws", "throw"));
      await sub.subscribe(topic, d.inbox("rejects", "reject"));
      await sub.subscribe(topic, d.inbox("group", "throw"), { queue: "g" });
      await pub.subscribe(topic, d.inbox("good"));
      for (const id of range(3, "e")) await pub.publish(topic, msg(id));
      await d.until(
        () => ["throws", "rejects", "group", "good"].every((n) => d.count(n) >= 3),
        timeout,
        "3 messages each",
      );
      await delay(quiet);
      for (const n of ["throws", "rejects", "group", "good"]) assert.equal(d.count(n), 3, n);
    });

    it("close stops delivery, is idempotent, and later calls reject with 503", async (t) => {
      const { pub, sub } = await setup(t);
      const d = new Deliveries();
      const topic = topicName();
      await sub.subscribe(topic, d.inbox("closed"));
      await sub.subscribe(topic, d.inbox("closed-group"), { queue: "g" });
      await sub.close();
      await sub.close();
      await assert.rejects(sub.publish(topic, msg("x")), isClosed);
      await assert.rejects(sub.subscribe(topic, d.inbox("late")), isClosed);
      if (pub !== sub) {
        await pub.subscribe(topic, d.inbox("alive"));
        await pub.publish(topic, msg("after close"));
        await d.until(() => d.count("alive") >= 1, timeout, "the live subscriber");
      }
      await delay(quiet);
      assert.equal(d.count("closed", "closed-group"), 0);
    });
  });
}
