export type {
  Runtime,
  Resource,
  CreateOptions as RuntimeCreateOptions,
  ReadOptions as RuntimeReadOptions,
  LogsOptions as RuntimeLogsOptions,
  RuntimeLogRecord,
  ServiceStatus,
  ServiceState,
} from "./runtime.js";
export { ServiceStatuses } from "./runtime.js";
export { localRuntime, LocalRuntime } from "./local.js";
export type { LocalRuntimeOptions } from "./local.js";
export { findEntry, ENTRY_CANDIDATES } from "./entry.js";
export type { ServiceEntry } from "./entry.js";
export { RuntimeHandler, RUNTIME_SERVICE } from "./handler.js";
export type { CreateRequest as RuntimeCreateRequest, LogsRequest as RuntimeLogsRequest } from "./handler.js";
export { serviceRuntime } from "./service.js";
export type { ServiceRuntimeOptions } from "./service.js";
