// The public API of @micro-ts/micro. Named exports only.
export * as errors from "./errors/index.js";
export { MicroError, isMicroError } from "./errors/index.js";
export type { MicroErrorJSON, MicroErrorOptions } from "./errors/index.js";
export * from "./logger/logger.js";
