/**
 * Events on PostgreSQL. Layout, all in one schema (`micro_events` by default):
 *   topics(topic, last)                  a counter row per topic: publishing takes `last + 1`
 *                                        under the row's lock, so sequences are gap-free and
 *                                        commit in order (a bigserial would leave gaps on
 *                                        rollback and could commit 8 before 7, letting a
 *                                        consumer skip 7)
 *   events(topic, seq, id, ts, ...)      every event, keyed (topic, seq); ts in ms since the epoch
 *   groups(topic, grp, next)             a consumer group's next never-delivered sequence
 *   pending(topic, grp, seq, deliveries, due, consumer)
 *                                        events handed out and not acked: due is when it is
 *                                        handed out again (the ackWait deadline, or now after a
 *                                        nack or its consumer's stop)
 * Members of a group claim work in one transaction each (`FOR UPDATE SKIP LOCKED` on pending,
 * the group row's lock for new events), so any number of processes can share a group.
 * Publishing sends NOTIFY on one channel per schema with the topic; a waiting consumer wakes
 * at once, and also at its next due redelivery, and polls every `poll` ms in case a
 * notification was missed (while the listening connection reconnects).
 * An event handed out more than `retryLimit + 1` times is moved to `<topic>.dead`.
 */
import { createHash, randomUUID } from "node:crypto";
import { errors, type ConsumeOptions, type Consumer, type Event, type Events, type EventsPublishOptions as PublishOptions, type ReadOptions } from "@micro-ts/micro";
import pg from "pg";
import { CONNECT_DEFAULTS, Connection, ident, type PostgresConnectOptions } from "./connection.js";
import { checkName } from "./values.js";

const ID = "micro.events.postgres";
const DEAD = ".dead";

export interface PostgresEventsOptions extends PostgresConnectOptions {
  /** The schema holding the event tables. @default "micro_events" */
  schema?: string;
  /** How often a waiting consumer looks for work without a notification, in ms. @default 1000 */
  poll?: number;
}

interface Encoded {
  json: boolean;
  data: Buffer;
}

function encode(p: unknown): Encoded {
  if (p instanceof Uint8Array) return { json: false, data: Buffer.from(p) };
  let text: string | undefined;
  try {
    text = JSON.stringify(p);
  } catch (e) {
    throw errors.badRequest(ID, `payload is not JSON: ${(e as Error).message}`, e);
  }
  if (text === undefined) throw errors.badRequest(ID, "payload is not JSON or bytes");
  return { json: true, data: Buffer.from(text) };
}

interface Row {
  seq: string;
  id: string;
  ts: string;
  metadata: Record<string, string>;
  json: boolean;
  data: Buffer;
}

const EVENT_COLUMNS = "seq::text AS seq, id, ts::text AS ts, metadata, json, data";

function toEvent(topic: string, r: Row, deliveries: number, ack: () => Promise<void>, nack: () => Promise<void>): Event {
  return {
    id: r.id,
    topic,
    payload: r.json ? JSON.parse(r.data.toString("utf8")) : new Uint8Array(r.data),
    timestamp: new Date(Number(r.ts)),
    metadata: r.metadata,
    sequence: Number(r.seq),
    deliveries,
    ack,
    nack,
  };
}

const noop = async () => {};

export class PostgresEvents implements Events {
  private readonly conn: Connection;
  private readonly schema: string;
  /** The NOTIFY channel of this schema. */
  readonly channel: string;
  private readonly poll: number;
  private setup: Promise<void> | undefined;
  private listener: Promise<pg.Client> | undefined;
  /** Notifications seen per topic: a consumer that found no work waits for this to change. */
  private readonly generation = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Group joins in flight: a publish from this instance waits for them (consume fixes its position at once). */
  private readonly joins = new Set<Promise<unknown>>();
  private readonly consumers = new Set<PgConsumer>();
  private closed = false;

  constructor(private readonly opts: PostgresEventsOptions = {}) {
    this.schema = checkName("schema", opts.schema ?? "micro_events");
    this.poll = opts.poll ?? 1000;
    if (!(this.poll > 0)) throw errors.badRequest(ID, "poll must be a positive number of ms");
    this.conn = new Connection(opts, ID);
    this.channel = `micro_events_${createHash("sha1").update(this.schema).digest("hex").slice(0, 16)}`;
  }

  /** `schema.table`, quoted. */
  t(name: string): string {
    return `${ident(this.schema)}.${name}`;
  }

  private check(topic?: string): void {
    if (this.closed) throw errors.serviceUnavailable(ID, "events closed");
    if (topic !== undefined && (typeof topic !== "string" || topic === "")) throw errors.badRequest(ID, "topic is required");
  }

  /** Creates the schema and tables once per instance (by any instance: guarded by an advisory lock). */
  ready(): Promise<void> {
    if (!this.setup) {
      const p = this.conn.tx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`micro-events:${this.schema}`]);
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(this.schema)}`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.t("topics")} (topic text COLLATE "C" PRIMARY KEY, last bigint NOT NULL)`);
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${this.t("events")} (topic text COLLATE "C" NOT NULL, seq bigint NOT NULL, id text NOT NULL, ts bigint NOT NULL, metadata jsonb NOT NULL, json boolean NOT NULL, data bytea NOT NULL, PRIMARY KEY (topic, seq))`,
        );
        await c.query(`CREATE INDEX IF NOT EXISTS events_ts ON ${this.t("events")} (topic, ts)`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.t("groups")} (topic text COLLATE "C" NOT NULL, grp text NOT NULL, next bigint NOT NULL, PRIMARY KEY (topic, grp))`);
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${this.t("pending")} (topic text COLLATE "C" NOT NULL, grp text NOT NULL, seq bigint NOT NULL, deliveries integer NOT NULL, due timestamptz NOT NULL, consumer text, PRIMARY KEY (topic, grp, seq))`,
        );
      });
      this.setup = p;
      p.catch(() => {
        if (this.setup === p) this.setup = undefined;
      });
    }
    return this.setup;
  }

  /** The LISTEN connection, opened once; on failure or loss it is reopened on next use. */
  private listen(): Promise<pg.Client> {
    if (!this.listener) {
      const url = this.opts.url ?? (this.opts.pool ? undefined : CONNECT_DEFAULTS.url);
      const c = new pg.Client({
        connectionTimeoutMillis: this.opts.timeout ?? CONNECT_DEFAULTS.timeout,
        ...this.opts.pool,
        ...(url ? { connectionString: url } : {}),
      });
      const drop = () => {
        if (this.listener === p) this.listener = undefined;
        void c.end().catch(() => undefined);
      };
      c.on("error", drop);
      c.on("end", drop);
      c.on("notification", (n) => n.channel === this.channel && n.payload !== undefined && this.wake(n.payload));
      const p = (async () => {
        await c.connect();
        await c.query(`LISTEN ${ident(this.channel)}`);
        return c;
      })();
      this.listener = p;
      p.catch(drop);
    }
    return this.listener;
  }

  private wake(topic: string): void {
    this.generation.set(topic, (this.generation.get(topic) ?? 0) + 1);
    const ws = this.waiters.get(topic);
    if (!ws) return;
    this.waiters.delete(topic);
    for (const w of ws) w();
  }

  gen(topic: string): number {
    return this.generation.get(topic) ?? 0;
  }

  /** Resolves on a notification for `topic` after generation `g`, after `ms`, or when `stop` aborts. */
  waitFor(topic: string, g: number, ms: number, stop: AbortSignal): Promise<void> {
    if (this.gen(topic) !== g || stop.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let ws = this.waiters.get(topic);
      if (!ws) this.waiters.set(topic, (ws = new Set()));
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        this.waiters.get(topic)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, this.poll)));
      stop.addEventListener("abort", done, { once: true });
      ws.add(done);
    });
  }

  /** Appends an event on `c` (inside its transaction) and notifies waiting consumers at commit. */
  async append(c: pg.ClientBase, topic: string, e: Encoded, ts: number, md: Record<string, string>, id = randomUUID()): Promise<string> {
    const { rows } = await c.query<{ last: string }>(
      `INSERT INTO ${this.t("topics")} AS t (topic, last) VALUES ($1, 1) ON CONFLICT (topic) DO UPDATE SET last = t.last + 1 RETURNING last::text`,
      [topic],
    );
    await c.query(`INSERT INTO ${this.t("events")} (topic, seq, id, ts, metadata, json, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      topic,
      rows[0]!.last,
      id,
      ts,
      JSON.stringify(md),
      e.json,
      e.data,
    ]);
    await c.query("SELECT pg_notify($1, $2)", [this.channel, topic]);
    return id;
  }

  async publish(topic: string, payload: unknown, o: PublishOptions = {}): Promise<string> {
    this.check(topic);
    const e = encode(payload);
    const md = { ...(o.metadata ?? {}) };
    for (const [k, v] of Object.entries(md)) if (typeof v !== "string") throw errors.badRequest(ID, `metadata ${k} must be a string`);
    const ts = o.timestamp === undefined ? Date.now() : o.timestamp instanceof Date ? o.timestamp.getTime() : o.timestamp;
    if (!Number.isFinite(ts)) throw errors.badRequest(ID, "invalid timestamp");
    if (this.joins.size > 0) await Promise.allSettled([...this.joins]);
    await this.ready();
    return this.conn.tx((c) => this.append(c, topic, e, ts, md));
  }

  /** Creates the group at its starting position unless it exists; opens the LISTEN connection. */
  private async join(topic: string, grp: string, offset: ConsumeOptions["offset"]): Promise<void> {
    await this.ready();
    await this.listen();
    const last = `COALESCE((SELECT last FROM ${this.t("topics")} WHERE topic = $1), 0)`;
    let start: string;
    const args: unknown[] = [topic, grp];
    if (offset === undefined || offset === "latest") start = `${last} + 1`;
    else if (offset === "earliest") start = "1";
    else if (typeof offset === "number") {
      if (!(offset >= 0) || !Number.isInteger(offset)) throw errors.badRequest(ID, "offset must be a non-negative integer");
      start = "$3::bigint + 1";
      args.push(offset);
    } else if (offset instanceof Date) {
      start = `COALESCE((SELECT min(seq) FROM ${this.t("events")} WHERE topic = $1 AND ts >= $3), ${last} + 1)`;
      args.push(offset.getTime());
    } else throw errors.badRequest(ID, "invalid offset");
    await this.conn.query(`INSERT INTO ${this.t("groups")} (topic, grp, next) SELECT $1, $2, ${start} ON CONFLICT DO NOTHING`, args);
  }

  consume(topic: string, o: ConsumeOptions = {}): Consumer {
    this.check(topic);
    const c = new PgConsumer(this, this.conn, topic, o);
    const j = this.join(topic, c.group, o.offset);
    this.joins.add(j);
    j.then(
      () => this.joins.delete(j),
      () => this.joins.delete(j),
    );
    c.joined = j;
    this.consumers.add(c);
    return c;
  }

  forget(c: PgConsumer): void {
    this.consumers.delete(c);
  }

  async read(topic: string, o: ReadOptions = {}): Promise<Event[]> {
    this.check(topic);
    await this.ready();
    const { rows } = await this.conn.query<Row>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.t("events")} e WHERE e.topic = $1 AND e.seq > $2 ORDER BY e.seq ${o.limit === undefined ? "" : "LIMIT $3"}`,
      o.limit === undefined ? [topic, o.offset ?? 0] : [topic, o.offset ?? 0, o.limit],
    );
    return rows.map((r) => toEvent(topic, r, 0, noop, noop));
  }

  async topics(): Promise<string[]> {
    this.check();
    await this.ready();
    const { rows } = await this.conn.query<{ topic: string }>(`SELECT topic FROM ${this.t("topics")} WHERE last > 0 ORDER BY topic`);
    return rows.map((r) => r.topic);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    this.closed = true;
    const l = this.listener;
    this.listener = undefined;
    const c = await l?.catch(() => undefined);
    await c?.end().catch(() => undefined);
    await this.conn.close();
  }
}

class PgConsumer implements Consumer {
  readonly group: string;
  private readonly ephemeral: boolean;
  private readonly id = randomUUID();
  private readonly autoAck: boolean;
  private readonly ackWait: number;
  private readonly retryLimit: number;
  private readonly stopCtrl = new AbortController();
  private last: Event | undefined;
  private stopping: Promise<void> | undefined;
  joined: Promise<void> = Promise.resolve();

  constructor(
    private readonly ev: PostgresEvents,
    private readonly conn: Connection,
    readonly topic: string,
    o: ConsumeOptions,
  ) {
    this.ephemeral = o.group === undefined || o.group === "";
    this.group = this.ephemeral ? `~${randomUUID()}` : o.group!;
    this.autoAck = o.autoAck ?? true;
    this.ackWait = o.ackWait ?? 30_000;
    this.retryLimit = o.retryLimit ?? 3;
    if (!(this.ackWait > 0)) throw errors.badRequest(ID, "ackWait must be positive");
    if (!(this.retryLimit >= 0)) throw errors.badRequest(ID, "retryLimit must be non-negative");
    if (o.signal) {
      if (o.signal.aborted) void this.stop();
      else o.signal.addEventListener("abort", () => void this.stop(), { once: true });
    }
  }

  private get stopped(): boolean {
    return this.stopCtrl.signal.aborted;
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.stop();
        return { value: undefined, done: true };
      },
    };
  }

  private async next(): Promise<IteratorResult<Event>> {
    if (this.stopped) return { value: undefined, done: true };
    await this.joined;
    if (this.autoAck && this.last) {
      const e = this.last;
      this.last = undefined;
      await e.ack();
    }
    while (!this.stopped) {
      const g = this.ev.gen(this.topic);
      const got = await this.claim();
      if (this.stopped) {
        // Handed out while stopping: give it back at once.
        if (got.event) await this.release([Number(got.event.sequence)]);
        break;
      }
      if (got.event) {
        if (this.autoAck) this.last = got.event;
        return { value: got.event, done: false };
      }
      await this.ev.waitFor(this.topic, g, got.wait, this.stopCtrl.signal);
    }
    return { value: undefined, done: true };
  }

  /** Hands out one event to this consumer: a due redelivery first, else the group's next new one. */
  private claim(): Promise<{ event?: Event; wait: number }> {
    const t = (n: string) => this.ev.t(n);
    const key = [this.topic, this.group];
    return this.conn.tx(async (c) => {
      for (;;) {
        const due = await c.query<{ seq: string; deliveries: number }>(
          `SELECT p.seq::text AS seq, p.deliveries FROM ${t("pending")} p WHERE p.topic = $1 AND p.grp = $2 AND p.due <= clock_timestamp() ORDER BY p.seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
          key,
        );
        const p = due.rows[0];
        if (p) {
          if (p.deliveries > this.retryLimit) {
            await this.park(c, p.seq, p.deliveries);
            continue;
          }
          await c.query(
            `UPDATE ${t("pending")} SET deliveries = deliveries + 1, due = clock_timestamp() + $4 * interval '1 millisecond', consumer = $5 WHERE topic = $1 AND grp = $2 AND seq = $3`,
            [...key, p.seq, this.ackWait, this.id],
          );
          return { event: await this.load(c, p.seq, p.deliveries + 1), wait: 0 };
        }
        const fresh = await c.query<{ seq: string }>(
          `UPDATE ${t("groups")} g SET next = g.next + 1 FROM ${t("topics")} tp WHERE g.topic = $1 AND g.grp = $2 AND tp.topic = g.topic AND g.next <= tp.last RETURNING (g.next - 1)::text AS seq`,
          key,
        );
        const n = fresh.rows[0];
        if (n) {
          await c.query(
            `INSERT INTO ${t("pending")} (topic, grp, seq, deliveries, due, consumer) VALUES ($1, $2, $3, 1, clock_timestamp() + $4 * interval '1 millisecond', $5)`,
            [...key, n.seq, this.ackWait, this.id],
          );
          return { event: await this.load(c, n.seq, 1), wait: 0 };
        }
        const next = await c.query<{ ms: string | null }>(
          `SELECT ceil(extract(epoch FROM min(due) - clock_timestamp()) * 1000)::text AS ms FROM ${t("pending")} WHERE topic = $1 AND grp = $2`,
          key,
        );
        const ms = next.rows[0]?.ms;
        return { wait: ms === null || ms === undefined ? Infinity : Math.max(0, Number(ms)) };
      }
    });
  }

  private async load(c: pg.ClientBase, seq: string, deliveries: number): Promise<Event> {
    const { rows } = await c.query<Row>(`SELECT ${EVENT_COLUMNS} FROM ${this.ev.t("events")} WHERE topic = $1 AND seq = $2`, [this.topic, seq]);
    return toEvent(this.topic, rows[0]!, deliveries, () => this.ack(seq), () => this.nack(seq));
  }

  /** Moves a pending event to `<topic>.dead` (inside the caller's transaction). */
  private async park(c: pg.ClientBase, seq: string, deliveries: number): Promise<void> {
    const { rows } = await c.query<Row>(`SELECT ${EVENT_COLUMNS} FROM ${this.ev.t("events")} WHERE topic = $1 AND seq = $2`, [this.topic, seq]);
    const r = rows[0];
    if (r) {
      const md = { ...r.metadata, "dead-topic": this.topic, "dead-id": r.id, "dead-sequence": r.seq, "dead-deliveries": String(deliveries) };
      await this.ev.append(c, this.topic + DEAD, { json: r.json, data: r.data }, Number(r.ts), md);
    }
    await c.query(`DELETE FROM ${this.ev.t("pending")} WHERE topic = $1 AND grp = $2 AND seq = $3`, [this.topic, this.group, seq]);
  }

  private async ack(seq: string): Promise<void> {
    await this.conn.query(`DELETE FROM ${this.ev.t("pending")} WHERE topic = $1 AND grp = $2 AND seq = $3`, [this.topic, this.group, seq]);
  }

  /** Hands the event back at once, or parks it when its redeliveries are used up. */
  private async nack(seq: string): Promise<void> {
    await this.conn.tx(async (c) => {
      const { rows } = await c.query<{ deliveries: number }>(
        `SELECT deliveries FROM ${this.ev.t("pending")} WHERE topic = $1 AND grp = $2 AND seq = $3 FOR UPDATE`,
        [this.topic, this.group, seq],
      );
      const d = rows[0]?.deliveries;
      if (d === undefined) return;
      if (d > this.retryLimit) return this.park(c, seq, d);
      await c.query(`UPDATE ${this.ev.t("pending")} SET due = clock_timestamp(), consumer = NULL WHERE topic = $1 AND grp = $2 AND seq = $3`, [this.topic, this.group, seq]);
      await c.query("SELECT pg_notify($1, $2)", [this.ev.channel, this.topic]);
    });
  }

  /** Returns events handed to this consumer to the group, due now. */
  private async release(seqs?: number[]): Promise<void> {
    const pending = this.ev.t("pending");
    await this.conn.tx(async (c) => {
      if (seqs) await c.query(`UPDATE ${pending} SET due = clock_timestamp(), consumer = NULL WHERE topic = $1 AND grp = $2 AND seq = ANY($3::bigint[])`, [this.topic, this.group, seqs]);
      else await c.query(`UPDATE ${pending} SET due = clock_timestamp(), consumer = NULL WHERE topic = $1 AND grp = $2 AND consumer = $3`, [this.topic, this.group, this.id]);
      await c.query("SELECT pg_notify($1, $2)", [this.ev.channel, this.topic]);
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopCtrl.abort();
      this.ev.forget(this);
      await this.joined.catch(() => undefined);
      try {
        if (this.autoAck && this.last) {
          const e = this.last;
          this.last = undefined;
          await e.ack();
        }
        if (this.ephemeral) {
          await this.conn.tx(async (c) => {
            await c.query(`DELETE FROM ${this.ev.t("pending")} WHERE topic = $1 AND grp = $2`, [this.topic, this.group]);
            await c.query(`DELETE FROM ${this.ev.t("groups")} WHERE topic = $1 AND grp = $2`, [this.topic, this.group]);
          });
        } else await this.release();
      } catch {
        // the server is gone: the events come back to the group at their ackWait
      }
    })();
    return this.stopping;
  }
}

/** Events on PostgreSQL: `new Service({ events: postgresEvents({ url: "postgres://..." }) })`. */
export function postgresEvents(opts: PostgresEventsOptions = {}): PostgresEvents {
  return new PostgresEvents({ ...opts });
}
