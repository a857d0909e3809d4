/**
 * Config: one tree of settings merged from ordered sources (later wins), read through typed
 * accessors, watched for changes, with secrets kept out of logs (go-micro's config domain).
 */
import type { StandardSchemaV1 } from "./standard-schema.js";

/** A value at a path. Accessors never throw: a missing or mistyped value gives the default. */
export interface Value {
  /** Strings as is; numbers and booleans as text. @default "" */
  string(def?: string): string;
  /** Numbers, and strings that parse as finite numbers. @default 0 */
  number(def?: number): number;
  /** Booleans, and "true"/"false"/"1"/"0". @default false */
  bool(def?: boolean): boolean;
  /** Arrays of strings, or a comma-separated string. @default [] */
  stringArray(def?: string[]): string[];
  /** An object (a copy); {} for anything else. */
  map(): Record<string, unknown>;
  /** Milliseconds: a number as is, or "250ms", "5s", "2m", "1h", "1h30m", "1d". @default 0 */
  duration(def?: number): number;
  exists(): boolean;
  /** The value itself (a copy), or undefined. */
  raw(): unknown;
  /** The value as JSON text (real secrets included: it is for code, not for logs). */
  json(): string;
  /** "[redacted]" for a secret path; otherwise the string form. Safe to log. */
  toString(): string;
  /** The redacted form, so `JSON.stringify(value)` is safe to log. */
  toJSON(): unknown;
}

/** Where settings come from. The platform adds a "service" source; etcd is a plugin. */
export interface Source {
  readonly name: string;
  /** The source's whole tree. Rejecting on the first load fails `newConfig`; later failures keep the last good tree. */
  read(): Promise<Record<string, unknown>>;
  /** Calls `onChange` when the source may have changed (it is then read again). Returns a stop function. */
  watch?(onChange: () => void): () => void;
}

export interface WatchOptions {
  /** Aborting ends the iteration. */
  signal?: AbortSignal;
}

export interface Config {
  /** The merged value at a dot path (`"db.host"`); `""` is the whole tree. */
  get(path: string): Value;
  /** Sets a value in the memory layer, which wins over every source. */
  set(path: string, v: unknown): void;
  /** Removes a value from the memory layer (sources may still provide one). */
  delete(path: string): void;
  /**
   * The value at `path` (default: the whole tree), validated and transformed by a Standard
   * Schema when given. Rejects with badRequest (400) listing the issues.
   */
  scan<T = unknown>(schema?: StandardSchemaV1<unknown, T>, path?: string): Promise<T>;
  /**
   * Yields the value at `path` each time it changes, from any source or `set`. Only changes
   * after the call are yielded. Ends on `close()`, on abort, or when the loop breaks.
   */
  watch(path: string, o?: WatchOptions): AsyncIterable<Value>;
  /** Adds sources above the existing ones (still below the memory layer) and reads them. */
  load(...sources: Source[]): Promise<void>;
  readonly sources: readonly Source[];
  /** The merged tree with secrets replaced by "[redacted]". */
  redacted(): Record<string, unknown>;
  /** Same as `redacted()`, so logging a Config never leaks a secret. */
  toJSON(): Record<string, unknown>;
  /** Stops watching sources and ends every watch iteration. */
  close(): Promise<void>;
}

export interface ConfigOptions {
  /** Sources in order, later wins. @default [envSource()] */
  sources?: Source[];
  /**
   * Paths whose values (and everything under them) are secret. Keys matching the logger's
   * secret pattern (password, token, secret, api key, ...) are secret as well.
   */
  secret?: string[];
  /** Where reload failures are reported (e.g. a file with a syntax error). @default none */
  logger?: import("../logger/logger.js").Logger;
}
