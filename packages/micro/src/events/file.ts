/**
 * A durable event stream on disk. Layout under `dir`:
 *   topics/<topic>.log            append-only; frames of [u32 length][u32 crc32][JSON body]
 *   groups/t-<topic>/<group>.json a group's acked position, replaced by write + fsync + rename
 * `publish` resolves only after its frame is fsynced; concurrent publishes to a topic share
 * one write and one fsync (group commit). On open, a torn or corrupt tail (a crash mid-write)
 * is cut off and reported through the logger. One process owns a directory at a time: the
 * platform's events service does; two processes writing the same directory corrupt it.
 * Every stored event is also kept in memory (the stream is read from memory, written to disk).
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, type FileHandle } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../logger/logger.js";
import { crc32 } from "./crc32.js";
import { Engine, type EventStore, type GroupState, type StoredEvent } from "./engine.js";
import type { Events } from "./events.js";

export interface FileEventsOptions {
  /** @default process.env.MICRO_EVENTS_DIR ?? ~/.micro/events */
  dir?: string;
  /** Receives recovery reports (a dropped torn tail) and background failures. @default none */
  logger?: Logger;
}

const HEADER = 8;
const enc = (s: string) => encodeURIComponent(s);

interface Body {
  id: string;
  ts: number;
  md: Record<string, string>;
  k: "j" | "b";
  p: string;
}

export function encodeFrame(e: StoredEvent): Buffer {
  const body: Body = {
    id: e.id,
    ts: e.ts,
    md: e.md,
    k: e.kind,
    p: e.kind === "b" ? Buffer.from(e.data as Uint8Array).toString("base64") : (e.data as string),
  };
  const b = Buffer.from(JSON.stringify(body));
  const h = Buffer.alloc(HEADER);
  h.writeUInt32BE(b.length, 0);
  h.writeUInt32BE(crc32(b), 4);
  return Buffer.concat([h, b]);
}

/** Parses frames until the end or the first torn/corrupt one; `good` is the byte length of the valid prefix. */
export function decodeFrames(buf: Buffer): { events: StoredEvent[]; good: number } {
  const events: StoredEvent[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32BE(off);
    const end = off + HEADER + len;
    if (end > buf.length) break;
    const b = buf.subarray(off + HEADER, end);
    if (crc32(b) !== buf.readUInt32BE(off + 4)) break;
    let body: Body;
    try {
      body = JSON.parse(b.toString("utf8")) as Body;
    } catch {
      break;
    }
    const data = body.k === "b" ? new Uint8Array(Buffer.from(body.p, "base64")) : body.p;
    events.push({ id: body.id, ts: body.ts, md: body.md, kind: body.k, data });
    off = end;
  }
  return { events, good: off };
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

interface Pending {
  frame: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One topic's log: appends queue up while an fsync runs, then go to disk together. */
class TopicWriter {
  private queue: Pending[] = [];
  private running = false;
  constructor(
    private readonly fh: FileHandle,
    private size: number,
  ) {}

  append(frame: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      if (!this.running) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const buf = Buffer.concat(batch.map((p) => p.frame));
      try {
        await this.fh.write(buf, 0, buf.length, this.size);
        await this.fh.datasync();
        this.size += buf.length;
        for (const p of batch) p.resolve();
      } catch (e) {
        // Cut a partial write so later frames do not land behind a torn one.
        await this.fh.truncate(this.size).catch(() => undefined);
        for (const p of batch) p.reject(e);
      }
    }
    this.running = false;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

interface GroupWriter {
  next: GroupState | undefined;
  waiters: Pending[];
  running: boolean;
}

class FileStore implements EventStore {
  private readonly writers = new Map<string, Promise<TopicWriter>>();
  private readonly groupWriters = new Map<string, GroupWriter>();

  constructor(
    private readonly dir: string,
    private readonly sizes: Map<string, number>,
    private readonly groups: Map<string, GroupState>,
  ) {}

  private writer(topic: string): Promise<TopicWriter> {
    let w = this.writers.get(topic);
    if (!w) {
      w = (async () => {
        const path = join(this.dir, "topics", `${enc(topic)}.log`);
        const fh = await open(path, "a+");
        if (!this.sizes.has(topic)) fsyncDir(join(this.dir, "topics"));
        return new TopicWriter(fh, this.sizes.get(topic) ?? 0);
      })();
      this.writers.set(topic, w);
    }
    return w;
  }

  async append(topic: string, e: StoredEvent): Promise<void> {
    const frame = encodeFrame(e);
    await (await this.writer(topic)).append(frame);
  }

  loadGroup(topic: string, group: string): GroupState | undefined {
    return this.groups.get(`${topic}\u0000${group}`);
  }

  saveGroup(topic: string, group: string, s: GroupState): Promise<void> {
    const key = `${topic}\u0000${group}`;
    let w = this.groupWriters.get(key);
    if (!w) this.groupWriters.set(key, (w = { next: undefined, waiters: [], running: false }));
    const gw = w;
    gw.next = s;
    return new Promise((resolve, reject) => {
      gw.waiters.push({ frame: Buffer.alloc(0), resolve, reject });
      if (!gw.running) void this.writeGroup(topic, group, gw);
    });
  }

  // Coalesces: while one write runs, only the newest state waits for the next.
  private async writeGroup(topic: string, group: string, w: GroupWriter): Promise<void> {
    w.running = true;
    const dir = join(this.dir, "groups", `t-${enc(topic)}`);
    const path = join(dir, `${enc(group)}.json`);
    while (w.next) {
      const s = w.next;
      const waiters = w.waiters;
      w.next = undefined;
      w.waiters = [];
      try {
        await mkdir(dir, { recursive: true });
        const tmp = `${path}.tmp`;
        const fh = await open(tmp, "w");
        try {
          await fh.writeFile(JSON.stringify(s));
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
        fsyncDir(dir);
        for (const p of waiters) p.resolve();
      } catch (e) {
        for (const p of waiters) p.reject(e);
      }
    }
    w.running = false;
  }

  async close(): Promise<void> {
    const ws = await Promise.all(this.writers.values());
    await Promise.all(ws.map((w) => w.close()));
  }
}

async function loadTopics(dir: string, log: Logger | undefined) {
  const logs = new Map<string, StoredEvent[]>();
  const sizes = new Map<string, number>();
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".log")) continue;
    const topic = decodeURIComponent(name.slice(0, -4));
    const path = join(dir, name);
    const buf = await readFile(path);
    const { events, good } = decodeFrames(buf);
    if (good < buf.length) {
      // A crash mid-append leaves a torn frame; nothing after it was ever acknowledged.
      const fh = await open(path, "r+");
      try {
        await fh.truncate(good);
        await fh.sync();
      } finally {
        await fh.close();
      }
      log?.warn("events: dropped a torn tail", { topic, file: path, droppedBytes: buf.length - good, kept: events.length });
    }
    logs.set(topic, events);
    sizes.set(topic, good);
  }
  return { logs, sizes };
}

async function loadGroups(dir: string): Promise<Map<string, GroupState>> {
  const out = new Map<string, GroupState>();
  for (const td of await readdir(dir)) {
    if (!td.startsWith("t-")) continue;
    const topic = decodeURIComponent(td.slice(2));
    for (const f of await readdir(join(dir, td))) {
      if (!f.endsWith(".json")) continue;
      const s = JSON.parse(await readFile(join(dir, td, f), "utf8")) as GroupState;
      out.set(`${topic}\u0000${decodeURIComponent(f.slice(0, -5))}`, s);
    }
  }
  return out;
}

/** Opens (creating if needed) a durable stream in `dir`, recovering from any crash first. */
export async function fileEvents(opts: FileEventsOptions = {}): Promise<Events> {
  const dir = opts.dir ?? process.env["MICRO_EVENTS_DIR"] ?? join(homedir(), ".micro", "events");
  await mkdir(join(dir, "topics"), { recursive: true });
  await mkdir(join(dir, "groups"), { recursive: true });
  const { logs, sizes } = await loadTopics(join(dir, "topics"), opts.logger);
  const groups = await loadGroups(join(dir, "groups"));
  const store = new FileStore(dir, sizes, groups);
  return new Engine({ store, logs, ...(opts.logger ? { logger: opts.logger } : {}) });
}
