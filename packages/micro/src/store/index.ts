// The store domain's public API.
export type {
  DeleteOptions,
  JSONValue,
  ListOptions,
  ReadOptions,
  Scope,
  Store,
  StoreOptions,
  StoreRecord,
  StoreValue,
  WriteOptions,
} from "./store.js";
export { MAX_KEY_BYTES, STORE_DEFAULTS } from "./store.js";
export { memoryStore, type MemoryStoreOptions } from "./memory.js";
export { fileStore, isFileStore, type FileStore, type FileStoreOptions, type RecoveryReport } from "./file.js";
