export type { ConsumeOptions, Consumer, Event, Events, Payload, PublishOptions, ReadOptions } from "./events.js";
export { DEAD_LETTER_SUFFIX } from "./events.js";
export { memoryEvents, type MemoryEventsOptions } from "./memory.js";
export { fileEvents, type FileEventsOptions } from "./file.js";
