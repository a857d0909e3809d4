// The public API of @micro-ts/micro. Named exports only.
export * as errors from "./errors/index.js";
export { MicroError, isMicroError, isRetryable } from "./errors/index.js";
export type { MicroErrorJSON, MicroErrorOptions } from "./errors/index.js";

export * from "./logger/logger.js";

export { Service } from "./service/service.js";
export type { ServiceOptions, MessageHandler, MessageInfo } from "./service/service.js";
export { resetMemoryDefaults } from "./service/defaults.js";

export type { Context, Metadata } from "./context/context.js";
export { currentContext, runWithContext, withMetadata } from "./context/context.js";

export type { Codec } from "./codec/codec.js";
export { Codecs, JsonCodec, BytesCodec, jsonCodec, bytesCodec } from "./codec/codec.js";

export type {
  Registry,
  RegistryEvent,
  RegisterOptions,
  WatchOptions as RegistryWatchOptions,
  Watcher,
  ServiceRecord,
  Node,
  Endpoint,
  Value as RegistryValue,
  Action,
} from "./registry/registry.js";
export { MemoryRegistry, memoryRegistry } from "./registry/memory.js";
export type { MemoryRegistryOptions } from "./registry/memory.js";
export { CacheRegistry, cacheRegistry } from "./registry/cache.js";
export { MdnsRegistry, mdnsRegistry } from "./registry/mdns.js";
export type { MdnsRegistryOptions } from "./registry/mdns.js";

export type { Selector, SelectorOptions, SelectOptions, Filter, Next } from "./selector/selector.js";
export {
  randomSelector,
  roundRobinSelector,
  createSelector,
  filterVersion,
  filterNode,
  filterMetadata,
} from "./selector/selector.js";

export type {
  Transport,
  Listener,
  Connection,
  ServerStream,
  ClientStream,
  StreamHandler,
  Message,
  DialOptions,
} from "./transport/transport.js";
export { HEADERS } from "./transport/transport.js";
export { TcpTransport, tcpTransport } from "./transport/tcp.js";
export type { TcpTransportOptions } from "./transport/tcp.js";
export { MemoryTransport, memoryTransport } from "./transport/memory.js";
export { HttpTransport, httpTransport } from "./transport/http.js";
export type { HttpTransportOptions } from "./transport/http.js";

export type { Server, ServerMiddleware, ServerObserver, ServerRequest } from "./server/server.js";
export type { HandleOptions, EndpointOptions } from "./server/handler.js";
export { RpcServer } from "./server/rpc.js";

export type {
  Client,
  CallOptions,
  ClientMiddleware,
  ClientObserver,
  ClientRequest,
  ClientOf,
  ResponseStream,
  PublishOptions,
} from "./client/client.js";
export { RpcClient } from "./client/rpc.js";

export type {
  Broker,
  BrokerMessage,
  BrokerEvent,
  BrokerHandler,
  Subscriber,
  SubscribeOptions,
  PublishOptions as BrokerPublishOptions,
  MemoryBrokerOptions,
  HttpBrokerOptions,
} from "./broker/index.js";
export { MemoryBroker, memoryBroker, HttpBroker, httpBroker, HTTP_BROKER_SERVICE, BROADCAST_VERSION } from "./broker/index.js";

export type { Config, ConfigOptions, Source, Value, WatchOptions as ConfigWatchOptions } from "./config/index.js";
export type { EnvSourceOptions, FileSourceOptions, MemorySource } from "./config/index.js";
export { newConfig, defaultsSource, envSource, fileSource, memorySource, parseDuration } from "./config/index.js";

export type {
  Events,
  Event,
  Consumer,
  ConsumeOptions,
  Payload,
  PublishOptions as EventsPublishOptions,
  ReadOptions as EventsReadOptions,
  MemoryEventsOptions,
  FileEventsOptions,
} from "./events/index.js";
export { memoryEvents, fileEvents, DEAD_LETTER_SUFFIX } from "./events/index.js";

export type { StandardSchemaV1 } from "./schema/standard-schema.js";

export * from "./store/index.js";
export * from "./sync/index.js";

export * from "./runtime/index.js";

// Service-backed implementations: the core services of a `micro server`.
export { serviceRegistry, REGISTRY_SERVICE } from "./registry/service.js";
export type { ServiceRegistryOptions } from "./registry/service.js";
export { serviceBroker, BROKER_SERVICE } from "./broker/service.js";
export type { ServiceBrokerOptions } from "./broker/service.js";
export { serviceStore, STORE_SERVICE } from "./store/service.js";
export type { ServiceStoreOptions } from "./store/service.js";
export { serviceEvents, EVENTS_SERVICE } from "./events/service.js";
export type { ServiceEventsOptions } from "./events/service.js";
export { serviceSource, CONFIG_SERVICE } from "./config/service.js";
export type { ServiceSourceOptions } from "./config/service.js";
export type { RemoteOptions } from "./util/remote.js";

// Auth: accounts, tokens, rules and their enforcement (issue 5).
export * from "./auth/index.js";

export { loadPlugin, PLUGINS, LazyRegistry, LazyBroker, LazyStore, LazyTransport } from "./service/plugins.js";
export type { PluginSpec } from "./service/plugins.js";

// Debug: logs, stats, health, traces, Prometheus (issue 7).
export * from "./debug/index.js";
export { AsyncQueue } from "./util/watcher.js";
