// The public API of @micro-ts/etcd: Micro's registry, sync and a config source on etcd. Named exports only.
export type { EtcdConnectOptions } from "./connection.js";
export { EtcdRegistry, etcdRegistry } from "./registry.js";
export type { EtcdRegistryOptions } from "./registry.js";
export { EtcdSync, etcdSync } from "./sync.js";
export type { EtcdSyncOptions } from "./sync.js";
export { EtcdConfigSource, etcdConfigSource } from "./config.js";
export type { EtcdConfigSourceOptions } from "./config.js";
