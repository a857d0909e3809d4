/**
 * A structured logger: levels, fields, JSON or pretty output, and an in-memory ring
 * buffer of recent records (what `Debug.Log` and `micro logs` read).
 */

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
export type Level = keyof typeof LEVELS;

export type Fields = Record<string, unknown>;

export interface LogRecord {
  /** Milliseconds since the epoch. */
  time: number;
  level: Exclude<Level, "silent">;
  msg: string;
  fields: Fields;
}

export interface Logger {
  trace(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A child logger whose records carry these fields too. */
  with(fields: Fields): Logger;
  /** The most recent records, oldest first (at most the buffer size). */
  records(o?: { count?: number; since?: number }): LogRecord[];
  /** Calls `fn` for every record logged from now on; returns a function that stops it. */
  follow(fn: (r: LogRecord) => void): () => void;
}

export interface LoggerOptions {
  /** Lowest level written. @default "info", or MICRO_LOG_LEVEL */
  level?: Level;
  /** "json" writes one JSON object a line; "pretty" a readable line. @default "pretty" on a TTY, else "json" */
  format?: "json" | "pretty";
  /** Where lines go. @default process.stderr */
  out?: { write(s: string): unknown };
  /** Records kept in memory for Debug.Log. @default 1000 */
  bufferSize?: number;
  /** Fields on every record (e.g. { service: "greeter" }). */
  fields?: Fields;
}

/** Keys whose values are never written (secrets). */
const SECRET_KEY = /(secret|password|passwd|token|authorization|api[-_]?key|private[-_]?key)/i;

export function redact(fields: Fields): Fields {
  let out: Fields | undefined;
  for (const k of Object.keys(fields)) {
    if (SECRET_KEY.test(k) && fields[k] !== undefined && fields[k] !== "") {
      out ??= { ...fields };
      out[k] = "[redacted]";
    }
  }
  return out ?? fields;
}

class Ring {
  private buf: LogRecord[] = [];
  private start = 0;
  private readonly listeners = new Set<(r: LogRecord) => void>();
  constructor(private readonly size: number) {}
  push(r: LogRecord): void {
    if (this.size > 0) {
      if (this.buf.length < this.size) this.buf.push(r);
      else {
        this.buf[this.start] = r;
        this.start = (this.start + 1) % this.size;
      }
    }
    for (const l of this.listeners) l(r);
  }
  list(): LogRecord[] {
    return this.buf.slice(this.start).concat(this.buf.slice(0, this.start));
  }
  follow(fn: (r: LogRecord) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

function envLevel(): Level | undefined {
  const v = process.env["MICRO_LOG_LEVEL"];
  return v && v in LEVELS ? (v as Level) : undefined;
}

class StructuredLogger implements Logger {
  constructor(
    private readonly min: number,
    private readonly format: "json" | "pretty",
    private readonly out: { write(s: string): unknown },
    private readonly ring: Ring,
    private readonly base: Fields,
  ) {}

  private log(level: Exclude<Level, "silent">, msg: string, fields?: Fields): void {
    const all = redact(fields ? { ...this.base, ...fields } : this.base);
    const rec: LogRecord = { time: Date.now(), level, msg, fields: all };
    this.ring.push(rec);
    if (LEVELS[level] < this.min) return;
    this.out.write(this.format === "json" ? formatJSON(rec) : formatPretty(rec));
  }
  trace(msg: string, f?: Fields): void {
    this.log("trace", msg, f);
  }
  debug(msg: string, f?: Fields): void {
    this.log("debug", msg, f);
  }
  info(msg: string, f?: Fields): void {
    this.log("info", msg, f);
  }
  warn(msg: string, f?: Fields): void {
    this.log("warn", msg, f);
  }
  error(msg: string, f?: Fields): void {
    this.log("error", msg, f);
  }
  with(fields: Fields): Logger {
    return new StructuredLogger(this.min, this.format, this.out, this.ring, { ...this.base, ...fields });
  }
  records(o: { count?: number; since?: number } = {}): LogRecord[] {
    let list = this.ring.list();
    if (o.since !== undefined) list = list.filter((r) => r.time >= o.since!);
    if (o.count !== undefined) list = list.slice(-o.count);
    return list;
  }
  follow(fn: (r: LogRecord) => void): () => void {
    return this.ring.follow(fn);
  }
}

function errorField(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message };
  return v;
}

export function formatJSON(r: LogRecord): string {
  const o: Record<string, unknown> = { time: new Date(r.time).toISOString(), level: r.level, msg: r.msg };
  for (const [k, v] of Object.entries(r.fields)) o[k] = errorField(v);
  return JSON.stringify(o) + "\n";
}

export function formatPretty(r: LogRecord): string {
  const t = new Date(r.time).toISOString().slice(11, 23);
  let s = `${t} ${r.level.toUpperCase().padEnd(5)} ${r.msg}`;
  for (const [k, v] of Object.entries(r.fields)) {
    const e = errorField(v);
    s += ` ${k}=${typeof e === "string" ? e : JSON.stringify(e)}`;
  }
  return s + "\n";
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? envLevel() ?? "info";
  const out = opts.out ?? process.stderr;
  const format =
    opts.format ??
    ((process.env["MICRO_LOG_FORMAT"] as "json" | "pretty" | undefined) ||
      ((out as { isTTY?: boolean }).isTTY ? "pretty" : "json"));
  return new StructuredLogger(LEVELS[level], format, out, new Ring(opts.bufferSize ?? 1000), opts.fields ?? {});
}

/** A logger that writes nothing (still buffers, so Debug.Log works). */
export function silentLogger(): Logger {
  return createLogger({ level: "silent", bufferSize: 200 });
}
