/**
 * The registry: where services are. Records use go-micro's JSON shape, so a Go service and
 * a TypeScript service can share one registry (etcd, NATS, ...).
 */

/** go-micro's `registry.Value`: a named, typed field, recursively. */
export interface Value {
  name: string;
  type: string;
  values?: Value[] | null;
}

export interface Endpoint {
  /** `Handler.Method`, e.g. `Greeter.Hello`. */
  name: string;
  request?: Value | null;
  response?: Value | null;
  /** e.g. { stream: "true" } for a server-streaming endpoint, { description: "..." }. */
  metadata?: Record<string, string>;
}

export interface Node {
  /** Unique per process, e.g. `greeter-5f1c...`. */
  id: string;
  /** `host:port` the node listens on. */
  address: string;
  /** e.g. { transport: "tcp", protocol: "mucp", broker: "http", registry: "mdns" }. */
  metadata?: Record<string, string>;
}

export interface ServiceRecord {
  name: string;
  /** @default "latest" */
  version: string;
  metadata?: Record<string, string>;
  endpoints?: Endpoint[];
  nodes: Node[];
}

export const ACTIONS = { create: "create", update: "update", delete: "delete" } as const;
export type Action = keyof typeof ACTIONS;

export interface RegistryEvent {
  action: Action;
  /** The record the event is about: for delete, the nodes that went away. */
  service: ServiceRecord;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** An async stream of registry changes; `stop()` ends it (the iterator then returns). */
export interface Watcher extends AsyncIterable<RegistryEvent> {
  stop(): void;
}

export interface RegisterOptions {
  /** How long the registration lives unless renewed, in ms. 0 or undefined: forever. */
  ttl?: number;
}

export interface WatchOptions {
  /** Only events about this service. */
  service?: string;
}

export interface Registry {
  /** A short name for logs and node metadata ("memory", "mdns", "etcd", ...). */
  readonly name: string;
  /**
   * Adds or refreshes the record's nodes. Idempotent: registering the same node again
   * renews its TTL and replaces its metadata/endpoints. Records of different versions of
   * one service are kept apart.
   */
  register(s: ServiceRecord, o?: RegisterOptions): Promise<void>;
  /** Removes the record's nodes; the version disappears when it has no node left. Idempotent. */
  deregister(s: ServiceRecord): Promise<void>;
  /** One record per version; rejects with a 404 MicroError when the service is unknown. */
  getService(name: string): Promise<ServiceRecord[]>;
  /** Every known service (one record per version; nodes may be omitted by some registries). */
  listServices(): Promise<ServiceRecord[]>;
  /** Changes from now on. */
  watch(o?: WatchOptions): Watcher;
  /** Stops background work; the registry is unusable afterwards. */
  close(): Promise<void>;
}

/** Deep-copies a record so callers can never mutate a registry's state. */
export function cloneRecord(s: ServiceRecord): ServiceRecord {
  return {
    name: s.name,
    version: s.version || "latest",
    metadata: s.metadata ? { ...s.metadata } : {},
    endpoints: (s.endpoints ?? []).map((e) => ({ ...e, metadata: e.metadata ? { ...e.metadata } : {} })),
    nodes: (s.nodes ?? []).map((n) => ({ ...n, metadata: n.metadata ? { ...n.metadata } : {} })),
  };
}
