// The public API of @micro-ts/redis: Micro's store, broker, events and sync on Redis. Named exports only.
export type { RedisConnectOptions } from "./connection.js";
export { RedisBroker, redisBroker } from "./broker.js";
export type { RedisBrokerOptions } from "./broker.js";
export { RedisEvents, redisEvents } from "./events.js";
export type { RedisEventsOptions } from "./events.js";
export { RedisSync, redisSync } from "./sync.js";
export type { RedisSyncOptions } from "./sync.js";
export { RedisStore, redisStore } from "./store.js";
export type { RedisStoreOptions } from "./store.js";
