// Shared conformance suites: every implementation, in core or in a plugin, runs them.
// Kept apart from the main entry so that importing @micro-ts/micro never loads node:test.
export { runRegistryConformance } from "./registry/conformance.js";
export type { RegistryConformanceOptions } from "./registry/conformance.js";
export { runBrokerConformance } from "./broker/conformance.js";
export type { BrokerConformanceOptions } from "./broker/conformance.js";
export { runEventsConformance } from "./events/conformance.js";
export type { EventsConformanceOptions } from "./events/conformance.js";
