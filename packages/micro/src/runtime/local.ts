/**
 * The local runtime: each service is a `node --import tsx <entry>` child of this process. Output
 * goes line by line to a ring buffer and to `<dataDir>/logs/<name>.log`; a process that exits on
 * its own is restarted after an exponential backoff; `watch` restarts it when its files change.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, watch as fsWatch, type FSWatcher, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { badRequest, conflict, notFound } from "../errors/index.js";
import { findEntry, type ServiceEntry } from "./entry.js";
import { Ring } from "./ring.js";
import type {
  CreateOptions,
  LogsOptions,
  ReadOptions,
  Resource,
  Runtime,
  RuntimeLogRecord,
  ServiceState,
  ServiceStatus,
} from "./runtime.js";

export interface LocalRuntimeOptions {
  /** Where log files go (`<dataDir>/logs/<name>.log`). */
  dataDir: string;
  /**
   * Environment for every child on top of this process's own (e.g. `MICRO_SERVER`), so services
   * started by `micro run` find the server. A resource's own env wins.
   */
  env?: Record<string, string>;
  /** The node binary. @default process.execPath */
  node?: string;
  /**
   * Node flags before `--import <loader>`.
   * @default the `--conditions`/`-C` flags of this process, so children resolve packages the same way
   */
  execArgv?: string[];
  /** Module for `node --import` that runs TypeScript. @default tsx, from the service dir or else from here */
  loader?: string;
  /** How long a process has after SIGTERM before SIGKILL, in ms. @default 5000 */
  gracePeriod?: number;
  /** First restart delay after a crash, in ms; doubles on each crash. @default 250 */
  backoffInitial?: number;
  /** Upper bound of the restart delay, in ms. @default 30000 */
  backoffMax?: number;
  /** A process that ran this long (ms) resets the backoff. @default 10000 */
  stableAfter?: number;
  /** Lines kept in memory per service. @default 1000 */
  logBuffer?: number;
  /** File changes within this window (ms) cause a single restart. @default 200 */
  watchDebounce?: number;
}

const DEFAULTS = {
  gracePeriod: 5_000,
  backoffInitial: 250,
  backoffMax: 30_000,
  stableAfter: 10_000,
  logBuffer: 1_000,
  watchDebounce: 200,
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Paths whose changes never trigger a reload. */
const IGNORED = /(^|[/\\])(node_modules|\.git|dist|coverage)([/\\]|$)/;

type Listener = (r: RuntimeLogRecord | null) => void;

interface Managed {
  resource: Resource;
  entry: ServiceEntry;
  watch: boolean;
  status: ServiceState;
  proc?: ChildProcess;
  exited?: Promise<void>;
  pid?: number;
  restarts: number;
  attempt: number;
  started?: number;
  exitCode?: number | string;
  error?: string;
  ring: Ring<RuntimeLogRecord>;
  listeners: Set<Listener>;
  file: WriteStream;
  timer?: NodeJS.Timeout;
  watcher?: FSWatcher;
  reload?: NodeJS.Timeout;
  /** Set while the runtime itself stops the process, so its exit is not a crash. */
  stopping: boolean;
  deleted: boolean;
}

export function localRuntime(opts: LocalRuntimeOptions): Runtime {
  return new LocalRuntime(opts);
}

export class LocalRuntime implements Runtime {
  readonly #o: Required<Omit<LocalRuntimeOptions, "loader" | "env">> & { loader?: string; env: Record<string, string> };
  readonly #services = new Map<string, Managed>();
  #closed = false;

  constructor(opts: LocalRuntimeOptions) {
    if (!opts?.dataDir) throw new TypeError("localRuntime: dataDir is required");
    const execArgv =
      opts.execArgv ?? process.execArgv.filter((a, i, all) => a.startsWith("--conditions") || a === "-C" || all[i - 1] === "-C");
    this.#o = Object.freeze({
      ...DEFAULTS,
      node: process.execPath,
      ...opts,
      execArgv: [...execArgv],
      env: { ...opts.env },
    });
  }

  async create(resource: Resource, o: CreateOptions = {}): Promise<void> {
    if (this.#closed) throw badRequest("runtime.create", "the runtime is stopped");
    if (!resource?.name || !NAME.test(resource.name)) {
      throw badRequest("runtime.create", `invalid service name ${JSON.stringify(resource?.name)}: letters, digits, . _ - only`);
    }
    if (this.#services.has(resource.name)) {
      throw conflict("runtime.create", `service ${resource.name} is already running; use update to restart it`);
    }
    const entry = await findEntry(resource.source);
    // Checked again: another create may have won while we looked at the disk.
    if (this.#services.has(resource.name)) {
      throw conflict("runtime.create", `service ${resource.name} is already running; use update to restart it`);
    }
    const logs = join(this.#o.dataDir, "logs");
    await mkdir(logs, { recursive: true });
    const m: Managed = {
      resource: { ...resource, source: entry.dir, env: { ...resource.env }, args: [...(resource.args ?? [])] },
      entry,
      watch: o.watch === true,
      status: "starting",
      restarts: 0,
      attempt: 0,
      ring: new Ring(this.#o.logBuffer),
      listeners: new Set(),
      file: createWriteStream(join(logs, `${resource.name}.log`), { flags: "a" }),
      stopping: false,
      deleted: false,
    };
    m.file.on("error", () => {}); // a full disk must not crash the runtime; the ring still has the lines
    this.#services.set(resource.name, m);
    this.#spawn(m);
    if (m.watch) this.#watch(m);
  }

  async read(o: ReadOptions = {}): Promise<ServiceStatus[]> {
    const all = o.name ? [this.#services.get(o.name)].filter((m): m is Managed => !!m) : [...this.#services.values()];
    return all
      .map((m) => ({
        name: m.resource.name,
        version: m.resource.version ?? "latest",
        source: m.resource.source,
        status: m.status,
        ...(m.pid !== undefined && m.status !== "crashed" && m.status !== "stopped" ? { pid: m.pid } : {}),
        restarts: m.restarts,
        ...(m.started !== undefined ? { started: m.started } : {}),
        ...(m.exitCode !== undefined ? { exitCode: m.exitCode } : {}),
        ...(m.error !== undefined ? { error: m.error } : {}),
        watch: m.watch,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async update(name: string): Promise<void> {
    const m = this.#get("runtime.update", name);
    // The entry may have moved (package.json main changed) since create.
    m.entry = await findEntry(m.resource.source);
    await this.#restart(m, "update");
  }

  async delete(name: string): Promise<void> {
    const m = this.#get("runtime.delete", name);
    await this.#remove(m);
  }

  logs(name: string, o: LogsOptions = {}): AsyncIterable<RuntimeLogRecord> {
    const m = this.#get("runtime.logs", name);
    return follow(m, o);
  }

  async stop(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#services.values()].map((m) => this.#remove(m)));
  }

  #get(id: string, name: string): Managed {
    const m = this.#services.get(name);
    if (!m) throw notFound(id, `service ${name} is not running in this runtime`);
    return m;
  }

  #spawn(m: Managed): void {
    const { resource, entry } = m;
    m.status = "starting";
    m.stopping = false;
    delete m.error;
    const args = [...this.#o.execArgv, "--import", this.#loader(entry.dir), entry.file, ...(resource.args ?? [])];
    const started = Date.now();
    let proc: ChildProcess;
    try {
      proc = spawn(this.#o.node, args, {
        cwd: entry.dir,
        env: { ...process.env, ...this.#o.env, ...resource.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      this.#crashed(m, started, undefined, (err as Error).message);
      return;
    }
    m.proc = proc;
    m.started = started;
    if (proc.pid !== undefined) m.pid = proc.pid;
    emit(m, "runtime", `starting ${entry.file}${proc.pid !== undefined ? ` (pid ${proc.pid})` : ""}`);
    proc.once("spawn", () => {
      if (m.proc === proc && m.status === "starting") m.status = "running";
    });
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: proc[stream]!, crlfDelay: Infinity }).on("line", (text) => emit(m, stream, text));
    }
    m.exited = new Promise<void>((resolve) => {
      let done = false;
      const finish = (code: number | string | undefined, error?: string) => {
        if (done) return;
        done = true;
        resolve();
        if (m.proc !== proc) return;
        delete m.proc;
        if (code !== undefined) m.exitCode = code;
        if (m.stopping || m.deleted) {
          m.status = "stopped";
          emit(m, "runtime", `stopped (${code ?? "no exit code"})`);
        } else {
          this.#crashed(m, started, code, error);
        }
      };
      // "close" waits for stdio to drain, so a crash's last lines land in the log before the notice.
      proc.once("close", (code, signal) => finish(code ?? signal ?? undefined));
      proc.once("error", (err) => {
        if (proc.pid === undefined) finish(undefined, err.message);
      });
    });
  }

  #crashed(m: Managed, started: number, code: number | string | undefined, error?: string): void {
    const ran = Date.now() - started;
    if (ran >= this.#o.stableAfter) m.attempt = 0;
    const delay = Math.min(this.#o.backoffMax, this.#o.backoffInitial * 2 ** m.attempt);
    m.attempt++;
    m.status = "crashed";
    m.error = error ?? `exited with ${typeof code === "string" ? `signal ${code}` : `code ${code}`}`;
    emit(m, "runtime", `crashed: ${m.error}; restarting in ${delay}ms`);
    m.timer = setTimeout(() => {
      delete m.timer;
      if (m.deleted || m.status !== "crashed") return;
      m.restarts++;
      this.#spawn(m);
    }, delay);
  }

  async #restart(m: Managed, why: string): Promise<void> {
    if (m.timer) clearTimeout(m.timer);
    delete m.timer;
    await this.#kill(m);
    if (m.deleted) return;
    m.restarts++;
    m.attempt = 0;
    emit(m, "runtime", `restarting (${why})`);
    this.#spawn(m);
  }

  async #kill(m: Managed): Promise<void> {
    const proc = m.proc;
    if (!proc || !m.exited) return;
    m.stopping = true;
    const exited = m.exited;
    proc.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        emit(m, "runtime", `no exit ${this.#o.gracePeriod}ms after SIGTERM; sending SIGKILL`);
        proc.kill("SIGKILL");
        resolve();
      }, this.#o.gracePeriod);
    });
    await Promise.race([exited, killed]);
    await exited;
    clearTimeout(timer);
  }

  async #remove(m: Managed): Promise<void> {
    if (m.deleted) return;
    m.deleted = true;
    if (m.timer) clearTimeout(m.timer);
    if (m.reload) clearTimeout(m.reload);
    m.watcher?.close();
    await this.#kill(m);
    m.status = "stopped";
    this.#services.delete(m.resource.name);
    for (const l of m.listeners) l(null);
    m.listeners.clear();
    await new Promise<void>((resolve) => m.file.end(resolve));
  }

  #watch(m: Managed): void {
    try {
      m.watcher = fsWatch(m.resource.source, { recursive: true }, (_event, file) => {
        if (file && IGNORED.test(file.toString())) return;
        if (m.reload) clearTimeout(m.reload);
        m.reload = setTimeout(() => {
          delete m.reload;
          if (m.deleted) return;
          emit(m, "runtime", `file changed${file ? `: ${file.toString()}` : ""}`);
          this.#restart(m, "file change").catch((err: Error) => emit(m, "runtime", `reload failed: ${err.message}`));
        }, this.#o.watchDebounce);
      });
      m.watcher.on("error", (err) => emit(m, "runtime", `watch stopped: ${err.message}`));
    } catch (err) {
      emit(m, "runtime", `cannot watch ${m.resource.source}: ${(err as Error).message}`);
    }
  }

  #loader(dir: string): string {
    if (this.#o.loader) return this.#o.loader;
    // Prefer the service's own tsx; a directory without node_modules still runs with ours.
    try {
      return pathToFileURL(createRequire(join(dir, "noop.js")).resolve("tsx")).href;
    } catch {
      try {
        return import.meta.resolve("tsx");
      } catch {
        return "tsx";
      }
    }
  }
}

function emit(m: Managed, stream: RuntimeLogRecord["stream"], text: string): void {
  const r: RuntimeLogRecord = { time: Date.now(), stream, text };
  m.ring.push(r);
  if (!m.file.destroyed && !m.file.writableEnded) m.file.write(`${JSON.stringify(r)}\n`);
  for (const l of m.listeners) l(r);
}

async function* follow(m: Managed, o: LogsOptions): AsyncGenerator<RuntimeLogRecord> {
  const count = o.count ?? 100;
  if (!o.stream) {
    yield* m.ring.last(count);
    return;
  }
  const queue: RuntimeLogRecord[] = [];
  let ended = m.deleted;
  let wake: (() => void) | undefined;
  const listener: Listener = (r) => {
    if (r) queue.push(r);
    else ended = true;
    wake?.();
  };
  const onAbort = () => {
    ended = true;
    wake?.();
  };
  // Subscribe before taking the backlog, so no line falls between the two.
  m.listeners.add(listener);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (const r of m.ring.last(count)) yield r;
    while (!o.signal?.aborted) {
      if (queue.length > 0) {
        yield queue.shift()!;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    m.listeners.delete(listener);
    o.signal?.removeEventListener("abort", onAbort);
  }
}
