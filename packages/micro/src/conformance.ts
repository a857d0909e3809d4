// Shared conformance suites: every implementation, in core or in a plugin, runs them.
// Kept apart from the main entry so that importing @micro-ts/micro never loads node:test.
export { runRegistryConformance } from "./registry/conformance.js";
export type { RegistryConformanceOptions } from "./registry/conformance.js";
export { runBrokerConformance } from "./broker/conformance.js";
export type { BrokerConformanceOptions } from "./broker/conformance.js";
export { runEventsConformance } from "./events/conformance.js";
export type { EventsConformanceOptions } from "./events/conformance.js";
export { runStoreConformance } from "./store/conformance.js";
export type { StoreConformanceOptions } from "./store/conformance.js";
export { runSyncConformance } from "./sync/conformance.js";
export type { SyncConformanceOptions } from "./sync/conformance.js";
export { runTransportConformance } from "./transport/conformance.js";
export type { TransportConformanceOptions } from "./transport/conformance.js";
