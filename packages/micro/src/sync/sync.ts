/**
 * Sync: distributed locks and leader election on leases (go-micro's `sync.Sync`).
 * A lease has a TTL: a holder that dies loses it when the TTL runs out, so a crashed process
 * never blocks the others for longer than that. Every implementation runs `conformance.ts`.
 */

/**
 * Releases a lock. Resolves once released; calling it again resolves too (idempotent).
 * Rejects with 409 conflict if the lock's TTL ran out and another holder has taken it since:
 * the critical section was then not protected for its whole length.
 */
export type Unlock = () => Promise<void>;

export interface LockOptions {
  /** How long the lock is held unless unlocked first, in ms. Locks are not renewed. @default 30000 */
  ttl?: number;
  /**
   * How long to wait for a held lock, in ms; 0 tries once. When it runs out lock() rejects
   * with a 408 timeout. @default 30000
   */
  wait?: number;
  /** Stops waiting: lock() then rejects with 499. */
  signal?: AbortSignal;
}

export interface LeaderOptions {
  /**
   * The leader's lease, in ms: it renews it every ttl/3 while alive; if it dies, another
   * candidate is elected at most this long after its last renewal. @default 30000
   */
  ttl?: number;
  /** Aborting resigns the candidate. */
  signal?: AbortSignal;
}

export const LEADER_STATUS = { leader: "leader", follower: "follower", resigned: "resigned" } as const;
export type LeaderStatus = keyof typeof LEADER_STATUS;

/** A candidate in the election for `id`: it campaigns until it resigns. */
export interface Leader {
  readonly id: string;
  /** "leader" while it holds a live lease, "follower" while campaigning, "resigned" after resign(). */
  status(): LeaderStatus;
  /**
   * Resolves as soon as this candidate is leader (at once if it is now). Rejects with 503 if it
   * resigns (or the Sync closes) first.
   */
  elected(): Promise<void>;
  /** Stops campaigning and gives up the lease if held, so another is elected at once. Idempotent. */
  resign(): Promise<void>;
  /**
   * Calls `cb` each time this candidate loses leadership it held without resigning (its lease
   * could not be renewed in time). It keeps campaigning. Returns a function that unsubscribes.
   */
  onLost(cb: () => void): () => void;
}

export interface Sync {
  /**
   * Takes the lock `id`, waiting up to `wait` ms while another holder has it. No two holders
   * ever hold one lock at once: a lock passes on only when released or its TTL has run out.
   * Rejects with 408 when `wait` runs out, 499 when aborted, 503 after close().
   */
  lock(id: string, o?: LockOptions): Promise<Unlock>;
  /**
   * Enters the election for `id` and resolves after the first attempt, so status() already
   * says whether this candidate won. At most one candidate is leader at a time.
   */
  leader(id: string, o?: LeaderOptions): Promise<Leader>;
  /**
   * Resigns every candidate, releases every lock this instance holds and rejects pending
   * lock() calls with 503. Idempotent.
   */
  close(): Promise<void>;
}

export interface SyncOptions {
  /** Default TTL of locks and leader leases, in ms. @default 30000 */
  ttl?: number;
  /** Default wait of lock(), in ms. @default 30000 */
  wait?: number;
}

export const SYNC_DEFAULTS = Object.freeze({ ttl: 30_000, wait: 30_000 });

/** The error id carried by sync errors. */
export const SYNC_ERROR_ID = "micro.sync";
