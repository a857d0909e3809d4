// The public API of @micro-ts/nats: Micro's registry, broker and events on NATS. Named exports only.
export type { NatsConnectOptions } from "./connection.js";
export { NatsBroker, natsBroker, ESCAPED_HEADERS } from "./broker.js";
export type { NatsBrokerOptions } from "./broker.js";
export { NatsEvents, natsEvents } from "./events.js";
export type { NatsEventsOptions } from "./events.js";
export { EVENT_HEADERS } from "./events-codec.js";
export { NatsRegistry, natsRegistry } from "./registry.js";
export type { NatsRegistryOptions } from "./registry.js";
export { encodeName, decodeName } from "./names.js";
export { NatsTransport, natsTransport, NATS_ADDRESS_SCHEME } from "./transport.js";
export type { NatsTransportOptions } from "./transport.js";
