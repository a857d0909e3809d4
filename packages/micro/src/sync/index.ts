// The sync domain's public API.
export type { Leader, LeaderOptions, LeaderStatus, LockOptions, Sync, SyncOptions, Unlock } from "./sync.js";
export { LEADER_STATUS, SYNC_DEFAULTS } from "./sync.js";
export { memorySync, type MemorySyncOptions } from "./memory.js";
export { storeSync, type StoreSyncOptions } from "./store.js";
