export type {
  Broker,
  BrokerEvent,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscriber,
} from "./broker.js";
export { MemoryBroker, memoryBroker } from "./memory.js";
export type { MemoryBrokerOptions } from "./memory.js";
export { HttpBroker, httpBroker } from "./http.js";
export type { HttpBrokerOptions } from "./http.js";
export { BROADCAST_VERSION, HTTP_BROKER_SERVICE } from "./http-wire.js";
