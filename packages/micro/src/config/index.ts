export type { Config, ConfigOptions, Source, Value, WatchOptions } from "./config.js";
export { newConfig } from "./default.js";
export {
  defaultsSource,
  envSource,
  fileSource,
  memorySource,
  type EnvSourceOptions,
  type FileSourceOptions,
  type MemorySource,
} from "./sources.js";
export { parseDuration } from "./value.js";
export type { StandardSchemaV1 } from "./standard-schema.js";
