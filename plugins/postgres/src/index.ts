// The public API of @micro-ts/postgres: Micro's store on PostgreSQL. Named exports only.
export type { PostgresConnectOptions } from "./connection.js";
export { PostgresStore, postgresStore, tableName } from "./store.js";
export type { PostgresStoreOptions } from "./store.js";
export { PostgresEvents, postgresEvents } from "./events.js";
export type { PostgresEventsOptions } from "./events.js";
