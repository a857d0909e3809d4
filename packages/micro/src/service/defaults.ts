/**
 * Default implementations, chosen by environment where the code passed none. This is the
 * one place where names (`MICRO_REGISTRY=memory`) map to factories in the core; plugins
 * are resolved by the CLI's loader.
 */
import type { Broker } from "../broker/broker.js";
import { httpBroker } from "../broker/http.js";
import { memoryBroker } from "../broker/memory.js";
import type { Logger } from "../logger/logger.js";
import { mdnsRegistry } from "../registry/mdns.js";
import { memoryRegistry } from "../registry/memory.js";
import type { Registry } from "../registry/registry.js";
import { createSelector, type Selector } from "../selector/selector.js";
import { httpTransport } from "../transport/http.js";
import { memoryTransport } from "../transport/memory.js";
import { tcpTransport } from "../transport/tcp.js";
import type { Transport } from "../transport/transport.js";
import { badRequest } from "../errors/errors.js";
import { LazyBroker, LazyRegistry, LazyStore, LazyTransport, loadPlugin, PLUGINS } from "./plugins.js";
import { serviceBroker } from "../broker/service.js";
import { serviceRegistry } from "../registry/service.js";
import type { Store } from "../store/store.js";
import { fileStore } from "../store/file.js";
import { memoryStore } from "../store/memory.js";
import { serviceStore } from "../store/service.js";
import type { Events } from "../events/events.js";
import { fileEvents } from "../events/file.js";
import { memoryEvents } from "../events/memory.js";
import { serviceEvents } from "../events/service.js";
import type { Config, Source } from "../config/config.js";
import { newConfig } from "../config/default.js";
import { envSource } from "../config/sources.js";
import { serviceSource } from "../config/service.js";
import { serviceAuth } from "../auth/service.js";
import { serviceToken } from "../auth/middleware.js";
import type { Auth } from "../auth/auth.js";

type Factory<T, A extends unknown[]> = (...args: A) => T;

const DEFAULT_REGISTRY = "mdns";

/** The `micro server` a service uses for everything it was not given (MICRO_SERVER=host:port). */
export function microServer(): string | undefined {
  return process.env["MICRO_SERVER"] || undefined;
}

/** The service account a `micro server` with auth on gave this process (MICRO_AUTH_ID, MICRO_AUTH_SECRET). */
export function serverCredentials(): { id: string; secret: string } | undefined {
  const id = process.env["MICRO_AUTH_ID"];
  const secret = process.env["MICRO_AUTH_SECRET"];
  return id && secret ? { id, secret } : undefined;
}

let sharedLogin: { key: string; auth: Auth; token: () => Promise<string> } | undefined;

/**
 * With MICRO_SERVER and MICRO_AUTH_ID/MICRO_AUTH_SECRET: the server's auth service (as this
 * service account) and a token source for it, shared by the process, so every service-backed
 * client and outgoing call carries one token (logged in on first use, refreshed before expiry).
 */
export function serverLogin(): { auth: Auth; token: () => Promise<string> } | undefined {
  const address = microServer();
  const creds = serverCredentials();
  if (!address || !creds) return undefined;
  const key = `${address}\0${creds.id}\0${creds.secret}`;
  if (sharedLogin?.key !== key) {
    const auth = serviceAuth({ address, credentials: creds });
    sharedLogin = { key, auth, token: serviceToken({ auth, credentials: creds }) };
  }
  return { auth: sharedLogin.auth, token: sharedLogin.token };
}

/** `{ token }` for the service-backed clients when this process has a service account. */
function serverToken(): { token?: () => Promise<string | undefined> } {
  const login = serverLogin();
  return login ? { token: login.token } : {};
}

function needServer(env: string): string {
  const a = microServer();
  if (!a) throw badRequest("micro.defaults", `${env}=service needs MICRO_SERVER=host:port (the micro server's RPC address)`);
  return a;
}

/** Single-process defaults are shared within a process so in-memory services see each other. */
let sharedMemory: { registry?: Registry; transport?: Transport; broker?: Broker } = {};

export const REGISTRIES: Record<string, Factory<Registry, [Logger]>> = {
  mdns: () => mdnsRegistry(),
  memory: () => (sharedMemory.registry ??= memoryRegistry()),
  service: () => serviceRegistry({ address: needServer("MICRO_REGISTRY"), ...serverToken() }),
};

export const TRANSPORTS: Record<string, Factory<Transport, [Logger]>> = {
  tcp: (logger) => tcpTransport({ logger }),
  http: (logger) => httpTransport({ logger }),
  memory: () => (sharedMemory.transport ??= memoryTransport()),
};

export const BROKERS: Record<string, Factory<Broker, [Registry, Logger]>> = {
  http: (registry, logger) => httpBroker({ registry, logger }),
  memory: () => (sharedMemory.broker ??= memoryBroker()),
  service: (_registry, logger) => serviceBroker({ address: needServer("MICRO_BROKER"), logger, ...serverToken() }),
};

/** Stores by name; the table is the service's name. */
export const STORES: Record<string, Factory<Store, [string, Logger]>> = {
  file: (table, logger) => fileStore({ table, logger }),
  memory: (table) => memoryStore({ table }),
  service: (table) => serviceStore({ address: needServer("MICRO_STORE"), table, ...serverToken() }),
};

export const EVENTS: Record<string, Factory<Events | Promise<Events>, [Logger]>> = {
  file: (logger) => fileEvents({ logger }),
  memory: () => memoryEvents(),
  service: () => serviceEvents({ address: needServer("MICRO_EVENTS"), ...serverToken() }),
};

/** True for the process-wide memory defaults, which no single service may close. */
export function isSharedDefault(x: object): boolean {
  return x === sharedMemory.registry || x === sharedMemory.transport || x === sharedMemory.broker;
}

/** For tests: forget the process-wide memory defaults. */
export function resetMemoryDefaults(): void {
  sharedMemory = {};
  sharedLogin = undefined;
}

function pick<T, A extends unknown[]>(
  kind: "registry" | "transport" | "broker" | "store" | "events",
  env: string,
  fallback: string,
  table: Record<string, Factory<T, A>>,
  args: A,
  plugin?: (name: string, address: string | undefined) => T,
): T {
  const name = (process.env[env] || fallback).toLowerCase();
  const f = table[name];
  if (f) return f(...args);
  if (plugin && PLUGINS[kind][name]) return plugin(name, process.env[`${env}_ADDRESS`] || undefined);
  const plugins = Object.keys(PLUGINS[kind]);
  throw badRequest(
    "micro.defaults",
    `unknown ${kind} "${name}" in ${env}; built in: ${Object.keys(table).join(", ")}${plugins.length ? `; plugins: ${plugins.join(", ")}` : ""}`,
  );
}

/** With MICRO_SERVER set, every default that has a service-backed form uses it. */
const orServer = (fallback: string) => (microServer() ? "service" : fallback);

export function defaultRegistry(logger: Logger): Registry {
  return pick("registry", "MICRO_REGISTRY", orServer(DEFAULT_REGISTRY), REGISTRIES, [logger], (name, address) =>
    new LazyRegistry(name, () => loadPlugin<Registry>("registry", name, address)),
  );
}

/** MICRO_STORE=file|memory|service; the table is the service's name. @default file, or service with MICRO_SERVER */
export function defaultStore(table: string, logger: Logger): Store {
  return pick("store", "MICRO_STORE", orServer("file"), STORES, [table, logger], (name, address) =>
    new LazyStore(() => loadPlugin<Store>("store", name, address, table)),
  );
}

/** MICRO_EVENTS=file|memory|service. @default file, or service with MICRO_SERVER */
export function defaultEvents(logger: Logger): Promise<Events> {
  return Promise.resolve(
    pick<Events | Promise<Events>, [Logger]>("events", "MICRO_EVENTS", orServer("file"), EVENTS, [logger], (name, address) =>
      loadPlugin<Events>("events", name, address),
    ),
  );
}

/**
 * The environment (MICRO_CONFIG_*), above the server's config document when MICRO_SERVER is set
 * (or MICRO_CONFIG=service); `config.set()` writes the Config's own memory layer above both.
 */
export function defaultConfig(logger: Logger): Promise<Config> {
  const sources: Source[] = [];
  const kind = (process.env["MICRO_CONFIG"] || orServer("env")).toLowerCase();
  if (kind === "service") sources.push(serviceSource({ address: needServer("MICRO_CONFIG"), ...serverToken() }));
  else if (kind !== "env") throw badRequest("micro.defaults", `unknown config "${kind}" in MICRO_CONFIG; built in: env, service`);
  sources.push(envSource());
  return newConfig({ sources, logger });
}

export function defaultTransport(logger: Logger): Transport {
  return pick("transport", "MICRO_TRANSPORT", "tcp", TRANSPORTS, [logger], (name, address) =>
    new LazyTransport(name, () => loadPlugin<Transport>("transport", name, address)),
  );
}

export function defaultBroker(registry: Registry, logger: Logger): Broker {
  return pick("broker", "MICRO_BROKER", orServer("http"), BROKERS, [registry, logger], (name, address) =>
    new LazyBroker(name, () => loadPlugin<Broker>("broker", name, address)),
  );
}

export function defaultSelector(): Selector {
  return createSelector({ strategy: process.env["MICRO_SELECTOR"] === "round-robin" ? "round-robin" : "random" });
}

/** Reads a number from the environment, multiplied by `scale` (e.g. seconds → ms). */
export function envNumber(name: string, scale = 1): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw badRequest("micro.defaults", `${name} must be a non-negative number, got "${v}"`);
  return n * scale;
}
