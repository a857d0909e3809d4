/**
 * The store: durable key-value records scoped by database and table (go-micro's `store.Store`).
 * Every implementation (memory, file, and the postgres/redis plugins) runs the shared suite in
 * `conformance.ts`, so a service can swap one for another without changing code.
 */

/** A JSON value: what a record holds when it does not hold bytes. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/**
 * A record's value: raw bytes or a JSON value. The store keeps which one it was: bytes are read
 * back as a `Uint8Array` (a copy), anything else is read back as the parsed JSON value.
 */
export type StoreValue = Uint8Array | JSONValue;

export interface StoreRecord {
  /** 1 to 1024 bytes of UTF-8. */
  key: string;
  value: StoreValue;
  /** JSON-able metadata kept with the record. */
  metadata?: Record<string, unknown>;
  /**
   * Time to live in ms. On write: the record disappears this long after the write (0 or
   * undefined: never). On read: the time it has left, or undefined when it never expires.
   */
  expiry?: number;
  /**
   * Set by the store on read: an opaque token that changes on every write of the key and is
   * never reused by the same store instance. Pass it as `WriteOptions.ifVersion`.
   */
  version?: string;
}

/** Where a call applies; both default to the store's own (see `StoreOptions`). */
export interface Scope {
  database?: string;
  table?: string;
}

export interface ReadOptions extends Scope {
  /** Treat the key as a prefix: return every record whose key starts with it. */
  prefix?: boolean;
  /** Treat the key as a suffix: return every record whose key ends with it. */
  suffix?: boolean;
  /** At most this many records (after offset). 0 or undefined: no limit. */
  limit?: number;
  /** Skip this many matching records first. */
  offset?: number;
}

export interface WriteOptions extends Scope {
  /**
   * Compare-and-set: write only if the key currently holds a live record with this `version`;
   * otherwise reject with a 409 conflict. Honoured atomically by every implementation.
   */
  ifVersion?: string;
  /** Write only if the key holds no live record (expired counts as absent); else 409. */
  ifNotExists?: boolean;
}

export type DeleteOptions = Scope;

export interface ListOptions extends Scope {
  /** Only keys starting with this string. */
  prefix?: string;
  /** Only keys ending with this string. */
  suffix?: string;
  limit?: number;
  offset?: number;
}

export interface Store {
  /**
   * Reads records. With neither `prefix` nor `suffix` it returns exactly one record or rejects
   * with a 404 MicroError when the key is missing or expired. With `prefix`/`suffix` it returns
   * every live match sorted by key (possibly none), then applies `offset` and `limit`.
   * Rejects with 400 for an invalid key (empty only allowed with prefix/suffix).
   */
  read(key: string, o?: ReadOptions): Promise<StoreRecord[]>;
  /**
   * Creates or replaces the record. Resolves once the write is durable for a durable store
   * (the file store has fsync'd it), and visible to every later read on this instance.
   * Rejects with 400 for an invalid key (empty, over 1024 bytes) or a value that is not bytes
   * or JSON-able, 413 for a value over the size limit, 409 when a condition fails.
   */
  write(rec: StoreRecord, o?: WriteOptions): Promise<void>;
  /** Deletes the record; deleting a missing key resolves (idempotent). 400 for an invalid key. */
  delete(key: string, o?: DeleteOptions): Promise<void>;
  /** Keys of the live records in the scope, sorted, filtered by prefix/suffix, then paged. */
  list(o?: ListOptions): Promise<string[]>;
  /** Databases holding at least one live record, sorted. */
  databases(): Promise<string[]>;
  /** Tables of `database` holding at least one live record, sorted. */
  tables(database: string): Promise<string[]>;
  /**
   * Flushes pending writes and releases files. Idempotent. Any later call rejects with 503.
   */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** The default database. @default "micro" */
  database?: string;
  /** The default table: usually the service name. @default "default" */
  table?: string;
  /** Largest value accepted, in bytes (JSON values: their UTF-8 JSON text). @default 4 MiB */
  maxValueSize?: number;
}

export const STORE_DEFAULTS = Object.freeze({
  database: "micro",
  table: "default",
  maxValueSize: 4 * 1024 * 1024,
});

/** Longest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** The error id carried by store errors. */
export const STORE_ERROR_ID = "micro.store";
