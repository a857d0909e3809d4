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

type Factory<T, A extends unknown[]> = (...args: A) => T;

const DEFAULT_REGISTRY = "mdns";

/** Single-process defaults are shared within a process so in-memory services see each other. */
let sharedMemory: { registry?: Registry; transport?: Transport; broker?: Broker } = {};

export const REGISTRIES: Record<string, Factory<Registry, [Logger]>> = {
  mdns: () => mdnsRegistry(),
  memory: () => (sharedMemory.registry ??= memoryRegistry()),
};

export const TRANSPORTS: Record<string, Factory<Transport, [Logger]>> = {
  tcp: (logger) => tcpTransport({ logger }),
  http: (logger) => httpTransport({ logger }),
  memory: () => (sharedMemory.transport ??= memoryTransport()),
};

export const BROKERS: Record<string, Factory<Broker, [Registry, Logger]>> = {
  http: (registry, logger) => httpBroker({ registry, logger }),
  memory: () => (sharedMemory.broker ??= memoryBroker()),
};

/** True for the process-wide memory defaults, which no single service may close. */
export function isSharedDefault(x: object): boolean {
  return x === sharedMemory.registry || x === sharedMemory.transport || x === sharedMemory.broker;
}

/** For tests: forget the process-wide memory defaults. */
export function resetMemoryDefaults(): void {
  sharedMemory = {};
}

function pick<T, A extends unknown[]>(kind: string, env: string, fallback: string, table: Record<string, Factory<T, A>>, args: A): T {
  const name = (process.env[env] || fallback).toLowerCase();
  const f = table[name];
  if (!f) {
    throw badRequest("micro.defaults", `unknown ${kind} "${name}" in ${env}; built in: ${Object.keys(table).join(", ")} (plugins are chosen in code or through the micro CLI)`);
  }
  return f(...args);
}

export function defaultRegistry(logger: Logger): Registry {
  return pick("registry", "MICRO_REGISTRY", DEFAULT_REGISTRY, REGISTRIES, [logger]);
}

export function defaultTransport(logger: Logger): Transport {
  return pick("transport", "MICRO_TRANSPORT", "tcp", TRANSPORTS, [logger]);
}

export function defaultBroker(registry: Registry, logger: Logger): Broker {
  return pick("broker", "MICRO_BROKER", "http", BROKERS, [registry, logger]);
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
