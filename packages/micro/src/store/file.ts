// fileStore: the durable default. One append-only log per database in `dir`; every record is
// also held in memory (the index), rebuilt from the logs on open. See log.ts for the format.
import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { conflict, internalServerError, MicroError, serviceUnavailable } from "../errors/errors.js";
import { createLogger, type Logger } from "../logger/logger.js";
import { checkCount, checkKey, checkName, copyMetadata, encodeValue, expiresAt } from "./codec.js";
import { encodeFrame, scanLog, type EntryHeader } from "./log.js";
import { resolveStoreOptions, scopeOf, type ResolvedStoreOptions } from "./memory.js";
import {
  STORE_ERROR_ID,
  type DeleteOptions,
  type ListOptions,
  type ReadOptions,
  type Store,
  type StoreOptions,
  type StoreRecord,
  type WriteOptions,
} from "./store.js";
import { RecordIndex, type Entry } from "./table.js";

export interface FileStoreOptions extends StoreOptions {
  /** Where the logs live. @default process.env.MICRO_STORE_DIR ?? ~/.micro/store */
  dir?: string;
  /** Compact a log when garbage exceeds this share of its size. @default 0.5 */
  compactRatio?: number;
  /** ... and the log is at least this big, in bytes. @default 1 MiB */
  compactMinBytes?: number;
  /** Receives recovery warnings. @default a logger writing to stderr */
  logger?: Logger;
}

/** What opening one database's log found. */
export interface RecoveryReport {
  database: string;
  file: string;
  /** Valid entries replayed. */
  entries: number;
  /** Bytes dropped (torn tail or corrupted regions). */
  droppedBytes: number;
  /** Entries dropped, best estimate (at least one per damaged region). */
  droppedEntries: number;
}

/** A Store on local files; plus compaction and what recovery found. */
export interface FileStore extends Store {
  readonly dir: string;
  /** Opens the store (replaying the logs) if not yet open; every other method does it too. */
  open(): Promise<void>;
  /** Rewrites the logs (or one database's) with only live records, atomically. */
  compact(database?: string): Promise<void>;
  /** One report per log replayed on open. */
  recovery(): Promise<RecoveryReport[]>;
}

interface Pending {
  frame: Buffer | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface DbLog {
  db: string;
  path: string;
  fd: FileHandle | undefined;
  size: number;
  /** Bytes of frames still holding live records. */
  live: number;
  pending: Pending[];
  driving: Promise<void> | undefined;
  compactWanted: boolean;
}

type SizedEntry = Entry & { size: number };

export function fileStore(opts: FileStoreOptions = {}): FileStore {
  const dir = opts.dir ?? process.env["MICRO_STORE_DIR"] ?? join(homedir(), ".micro", "store");
  const ratio = opts.compactRatio ?? 0.5;
  const min = opts.compactMinBytes ?? 1024 * 1024;
  if (!(ratio > 0 && ratio < 1)) throw new TypeError("compactRatio must be between 0 and 1");
  if (!(min >= 0)) throw new TypeError("compactMinBytes must be >= 0");
  const logger = opts.logger ?? createLogger({ fields: { component: "store", dir } });
  return new LogStore(dir, resolveStoreOptions(opts), ratio, min, logger);
}

const fileName = (db: string) => `${encodeURIComponent(db)}.log`;

class LogStore implements FileStore {
  private readonly index = new RecordIndex();
  private readonly logs = new Map<string, DbLog>();
  private readonly reports: RecoveryReport[] = [];
  private readonly instance = randomUUID().slice(0, 8);
  private seq = 0;
  private opening: Promise<void> | undefined;
  private closed = false;
  private failure: MicroError | undefined;

  constructor(
    readonly dir: string,
    private readonly opts: ResolvedStoreOptions,
    private readonly compactRatio: number,
    private readonly compactMin: number,
    private readonly logger: Logger,
  ) {}

  open(): Promise<void> {
    if (this.closed) return Promise.reject(serviceUnavailable(STORE_ERROR_ID, "store is closed"));
    if (this.failure) return Promise.reject(this.failure);
    this.opening ??= this.load();
    return this.opening;
  }

  private async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.lockDir();
    for (const name of (await readdir(this.dir)).sort()) {
      if (name.endsWith(".log")) await this.replay(decodeURIComponent(name.slice(0, -4)), join(this.dir, name));
    }
  }

  // Best effort against two stores on one dir: a LOCK file naming the owning pid.
  private async lockDir(): Promise<void> {
    const path = join(this.dir, "LOCK");
    for (let i = 0; i < 3; i++) {
      try {
        await writeFile(path, `${process.pid} ${this.instance}`, { flag: "wx" });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const pid = Number((await readFile(path, "utf8").catch(() => "")).split(" ")[0]);
      if (pid > 0 && isAlive(pid)) throw conflict(STORE_ERROR_ID, `store dir ${this.dir} is in use by pid ${pid}`);
      await unlink(path).catch(() => undefined);
    }
    throw conflict(STORE_ERROR_ID, `could not lock store dir ${this.dir}`);
  }

  private async replay(db: string, path: string): Promise<void> {
    const buf = await readFile(path);
    const scan = scanLog(buf);
    const log = this.newLog(db, path);
    for (const { header: h, value, size } of scan.entries) {
      const old = this.index.get(db, h.t, h.k, 0) as SizedEntry | undefined;
      if (old) log.live -= old.size;
      if (h.o === "d") {
        this.index.del(db, h.t, h.k);
        continue;
      }
      // Copied, so the index does not pin the whole file buffer.
      const e: SizedEntry = { bytes: new Uint8Array(value), json: h.j === 1, expiresAt: h.x ?? 0, version: this.version(), size };
      if (h.m) e.metadata = h.m;
      this.index.put(db, h.t, h.k, e);
      log.live += size;
    }
    log.size = scan.validEnd;
    this.reports.push({
      database: db,
      file: path,
      entries: scan.entries.length,
      droppedBytes: scan.droppedBytes,
      droppedEntries: scan.droppedEntries,
    });
    if (scan.droppedBytes > 0) {
      this.logger.warn("store log damaged: dropped unreadable entries", {
        database: db,
        file: path,
        droppedBytes: scan.droppedBytes,
        droppedEntries: scan.droppedEntries,
      });
    }
    if (scan.corruptMiddle) {
      // Rewrite without the damaged regions so later appends follow only valid frames.
      await this.rewrite(log);
    } else {
      log.fd = await open(path, "r+");
      if (scan.droppedBytes > 0) {
        await log.fd.truncate(scan.validEnd);
        await log.fd.sync();
      }
    }
  }

  private newLog(db: string, path: string): DbLog {
    const log: DbLog = { db, path, fd: undefined, size: 0, live: 0, pending: [], driving: undefined, compactWanted: false };
    this.logs.set(db, log);
    return log;
  }

  private version(): string {
    return `${this.instance}.${(++this.seq).toString(36)}`;
  }

  async read(key: string, o: ReadOptions = {}): Promise<StoreRecord[]> {
    await this.open();
    checkKey(key, Boolean(o.prefix || o.suffix));
    const { db, table } = scopeOf(this.opts, o);
    const page = { limit: checkCount("limit", o.limit), offset: checkCount("offset", o.offset) };
    return this.index.read(db, table, key, { ...o, ...page }, Date.now());
  }

  async write(rec: StoreRecord, o: WriteOptions = {}): Promise<void> {
    await this.open();
    checkKey(rec?.key);
    const { db, table } = scopeOf(this.opts, o);
    const enc = encodeValue(rec.value, this.opts.maxValueSize);
    const metadata = copyMetadata(rec.metadata);
    const now = Date.now();
    const exp = expiresAt(rec.expiry, now);
    this.index.checkCondition(db, table, rec.key, now, o);
    const h: EntryHeader = { o: "p", t: table, k: rec.key };
    if (enc.json) h.j = 1;
    if (metadata) h.m = metadata;
    if (exp) h.x = exp;
    const frame = encodeFrame(h, enc.bytes);
    const e: SizedEntry = { ...enc, expiresAt: exp, version: this.version(), size: frame.length };
    if (metadata) e.metadata = metadata;
    const log = this.logFor(db);
    // Applied now so later calls (and conditions) see it; acknowledged once fsync'd.
    const old = this.index.put(db, table, rec.key, e) as SizedEntry | undefined;
    log.live += e.size - (old?.size ?? 0);
    await this.append(log, frame);
  }

  async delete(key: string, o: DeleteOptions = {}): Promise<void> {
    await this.open();
    checkKey(key);
    const { db, table } = scopeOf(this.opts, o);
    const live = this.index.get(db, table, key, Date.now());
    const old = this.index.del(db, table, key) as SizedEntry | undefined;
    const log = this.logs.get(db);
    if (!old || !log) return;
    log.live -= old.size;
    // An expired record needs no tombstone: replay finds it expired too.
    if (live) await this.append(log, encodeFrame({ o: "d", t: table, k: key }));
  }

  async list(o: ListOptions = {}): Promise<string[]> {
    await this.open();
    const { db, table } = scopeOf(this.opts, o);
    const page = { limit: checkCount("limit", o.limit), offset: checkCount("offset", o.offset) };
    return this.index.list(db, table, { ...o, ...page }, Date.now());
  }

  async databases(): Promise<string[]> {
    await this.open();
    return this.index.databases(Date.now());
  }

  async tables(database: string): Promise<string[]> {
    await this.open();
    return this.index.tables(checkName("database", database), Date.now());
  }

  async compact(database?: string): Promise<void> {
    await this.open();
    const logs = database === undefined ? [...this.logs.values()] : [this.logs.get(database)];
    await Promise.all(
      logs.map((log) => {
        if (!log) return undefined;
        log.compactWanted = true;
        return this.append(log, undefined);
      }),
    );
  }

  async recovery(): Promise<RecoveryReport[]> {
    await this.open();
    return this.reports.map((r) => ({ ...r }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const opening = this.opening;
    if (!opening) return;
    try {
      await opening;
    } catch {
      return;
    }
    for (const log of this.logs.values()) {
      await log.driving?.catch(() => undefined);
      await log.fd?.close().catch(() => undefined);
      log.fd = undefined;
    }
    await unlink(join(this.dir, "LOCK")).catch(() => undefined);
  }

  private logFor(db: string): DbLog {
    return this.logs.get(db) ?? this.newLog(db, join(this.dir, fileName(db)));
  }

  /** Queues a frame (or, with undefined, just a turn of the writer) and resolves once durable. */
  private append(log: DbLog, frame: Buffer | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      log.pending.push({ frame, resolve, reject });
      log.driving ??= this.drive(log).finally(() => {
        log.driving = undefined;
      });
    });
  }

  // The one writer per log: group-commits everything queued into one write + one fsync.
  private async drive(log: DbLog): Promise<void> {
    while (log.pending.length > 0) {
      const batch = log.pending;
      log.pending = [];
      try {
        if (this.failure) throw this.failure;
        if (log.compactWanted) {
          // The index already holds every queued write, so the rewrite makes them durable too.
          await this.rewrite(log);
        } else {
          const frames = batch.flatMap((p) => (p.frame ? [p.frame] : []));
          if (frames.length > 0) {
            const created = !log.fd;
            log.fd ??= await open(log.path, "a+");
            const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
            await log.fd.write(buf, 0, buf.length, log.size);
            await log.fd.datasync();
            // A new file is durable only once its directory entry is.
            if (created) await syncDir(this.dir);
            log.size += buf.length;
          }
          if (log.size >= this.compactMin && log.size - log.live > log.size * this.compactRatio) {
            log.compactWanted = true;
          }
        }
        for (const p of batch) p.resolve();
      } catch (e) {
        // A failed write or fsync leaves the log in an unknown state: refuse everything after.
        this.failure ??= internalServerError(STORE_ERROR_ID, "store write failed", e);
        for (const p of batch.concat(log.pending.splice(0))) p.reject(this.failure);
      }
      if (log.compactWanted && log.pending.length === 0 && !this.failure) {
        await this.rewrite(log).catch((e: unknown) => {
          this.failure ??= internalServerError(STORE_ERROR_ID, "store compaction failed", e);
        });
      }
    }
  }

  /** Writes the live records of `log` to a new file, fsyncs it and renames it over the log. */
  private async rewrite(log: DbLog): Promise<void> {
    log.compactWanted = false;
    const now = Date.now();
    const frames: Buffer[] = [];
    const expired: [string, string][] = [];
    for (const [, table, key, e] of this.index.entries(log.db)) {
      if (e.expiresAt !== 0 && e.expiresAt <= now) {
        expired.push([table, key]);
        continue;
      }
      const h: EntryHeader = { o: "p", t: table, k: key };
      if (e.json) h.j = 1;
      if (e.metadata) h.m = e.metadata;
      if (e.expiresAt) h.x = e.expiresAt;
      const f = encodeFrame(h, e.bytes);
      (e as SizedEntry).size = f.length;
      frames.push(f);
    }
    for (const [table, key] of expired) this.index.del(log.db, table, key);
    const buf = Buffer.concat(frames);
    const tmp = `${log.path}.compact`;
    const fd = await open(tmp, "w");
    try {
      await fd.write(buf, 0, buf.length, 0);
      await fd.sync();
    } finally {
      await fd.close();
    }
    await rename(tmp, log.path);
    await syncDir(this.dir);
    await log.fd?.close().catch(() => undefined);
    log.fd = await open(log.path, "r+");
    log.size = buf.length;
    log.live = buf.length;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fd = await open(dir, "r");
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** True for a store made by fileStore(). */
export function isFileStore(s: Store): s is FileStore {
  return s instanceof LogStore;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
