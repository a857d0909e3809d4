/**
 * The runtime: runs services as processes and tells what they are doing (go-micro's
 * `runtime.Runtime`). The default, `localRuntime`, starts `node --import tsx <entry>` children on
 * this machine; `micro server` hosts one behind its `runtime` service so `micro run` works from
 * any shell. A Kubernetes runtime would implement the same interface.
 */

/** What to run. */
export interface Resource {
  /** Unique name of the running service (by default the directory's package name). */
  name: string;
  /** A directory holding the service (package.json `main`/`start`, or main.ts/index.ts/src/main.ts). */
  source: string;
  /** Free-form version label, shown by `read`. @default "latest" */
  version?: string;
  /** Extra environment for the process; wins over the runtime's own env. */
  env?: Record<string, string>;
  /** Extra arguments after the entry file. */
  args?: string[];
}

export interface CreateOptions {
  /** Restart the service when a file under its source directory changes. @default false */
  watch?: boolean;
}

export interface ReadOptions {
  /** Only this service. */
  name?: string;
}

export const ServiceStatuses = {
  starting: "starting",
  running: "running",
  /** Exited on its own; waiting for the backoff before the next restart. */
  crashed: "crashed",
  stopped: "stopped",
} as const;
export type ServiceState = (typeof ServiceStatuses)[keyof typeof ServiceStatuses];

export interface ServiceStatus {
  name: string;
  version: string;
  source: string;
  status: ServiceState;
  /** Process id of the current process, when there is one. */
  pid?: number;
  /** How many times the runtime restarted the service (crash or file change). */
  restarts: number;
  /** When the current (or last) process started, ms since the epoch. */
  started?: number;
  /** Exit code (or signal name) of the last process that exited. */
  exitCode?: number | string;
  /** Why the service is not running, when it is not (last crash, spawn error). */
  error?: string;
  watch: boolean;
}

/** One line a service wrote, or a line the runtime wrote about it (stream "runtime"). */
export interface RuntimeLogRecord {
  /** ms since the epoch when the line was read. */
  time: number;
  stream: "stdout" | "stderr" | "runtime";
  /** The line, without its newline. */
  text: string;
}

export interface LogsOptions {
  /** Keep yielding new lines until the signal aborts or the service is deleted. @default false */
  stream?: boolean;
  /** Start with at most this many past lines. @default 100 */
  count?: number;
  signal?: AbortSignal;
}

export interface Runtime {
  /**
   * Starts a service. Resolves once the process is spawned (not once it registered). Rejects with
   * 400 when the source holds no service entry (the detail says what was looked for) and 409
   * when a service of that name already exists.
   */
  create(resource: Resource, o?: CreateOptions): Promise<void>;
  /** Every service the runtime knows (or just `o.name`), sorted by name. Unknown name → []. */
  read(o?: ReadOptions): Promise<ServiceStatus[]>;
  /** Restarts a service's process so it runs the current code on disk. 404 when unknown. */
  update(name: string): Promise<void>;
  /**
   * Stops a service (SIGTERM, then SIGKILL after the grace period) and forgets it. Resolves
   * after the process exited. 404 when unknown. Its log file stays on disk.
   */
  delete(name: string): Promise<void>;
  /**
   * The service's recent lines (oldest first), then — with `stream` — every new line until the
   * signal aborts or the service is deleted. 404 when unknown.
   */
  logs(name: string, o?: LogsOptions): AsyncIterable<RuntimeLogRecord>;
  /** Stops every service it started and releases watchers. Idempotent. */
  stop(): Promise<void>;
}
