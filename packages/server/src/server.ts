/**
 * `micro server`: one process running the core services — registry, broker, store, config,
 * events — as ordinary Micro handlers on one RPC listener, the network proxy on that same
 * listener, and the API gateway over HTTP.
 *
 *   const server = await startServer({ dataDir: "/var/lib/micro" });
 *   // services: MICRO_SERVER=127.0.0.1:8081   HTTP: curl 127.0.0.1:8080/greeter/hello
 *
 * Each core service gets its own registry record (`micro services` lists them), all pointing
 * at the one address; the service-backed clients call them by address, without discovery.
 * The runtime service is not here yet: the core has no Runtime interface to serve.
 */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  createLogger,
  fileEvents,
  fileStore,
  localRuntime,
  memoryRegistry,
  RuntimeHandler,
  RpcClient,
  RpcServer,
  tcpTransport,
  type Broker,
  type Events,
  type Logger,
  type Registry,
  type ServiceRecord,
  type Store,
  type Transport,
  newAuth, // auth (issue 5)
  localVerifier, // auth (issue 5)
  type DefaultAuth, // auth (issue 5)
} from "@micro-ts/micro";
import { createGateway } from "./gateway/gateway.js";
import type { Gateway, GatewayOptions } from "./gateway/options.js";
import { BrokerHandler } from "./services/broker.js";
import { ConfigHandler } from "./services/config.js";
import { EventsHandler } from "./services/events.js";
import { Proxy } from "./services/proxy.js";
import { RegistryHandler } from "./services/registry.js";
import { StoreHandler } from "./services/store.js";
// --- auth (issue 5) ---
import { AuthHandler, bootstrapAuth, coreAuthMiddleware, gatewayAuthorize, shouldEnableAuth } from "./services/auth.js";
// --- end auth ---

export interface ServerOptions {
  /** Where the store and the event log live. @default MICRO_DATA_DIR or ~/.micro */
  dataDir?: string;
  /** The RPC listener of the core services and the proxy (what MICRO_SERVER points at). @default "127.0.0.1:8081" */
  address?: string;
  /** The API gateway's HTTP listener; false runs no gateway. @default "127.0.0.1:8080" */
  gatewayAddress?: string | false;
  /** Extra gateway options (CORS, limits, authorize, ...). */
  gateway?: Omit<GatewayOptions, "client" | "registry" | "events">;
  /** Forward calls for other services (MICRO_PROXY clients). @default true */
  proxy?: boolean;
  /** @default tcp */
  transport?: Transport;
  /** How often expired registrations are swept, in ms. @default 1000 */
  sweepInterval?: number;
  /**
   * Run the core services on real engines instead of the embedded defaults
   * (`micro server --registry etcd --store postgres --broker nats --events nats`), so the
   * platform's state survives the loss of this process. @default memory registry, file store,
   * in-process broker, file events under dataDir
   */
  registry?: Registry;
  store?: Store;
  broker?: Broker;
  events?: Events;
  logger?: Logger;
  // --- auth (issue 5) ---
  /**
   * Require tokens (gateway and the `auth` service's endpoints). @default off while every
   * listener is on loopback, on as soon as one is not; false while exposed prints a loud warning.
   */
  auth?: boolean;
  /** Receives the generated admin password on first start with auth on. @default printed once to stdout */
  announceAdmin?: (id: string, password: string) => void;
  // --- end auth ---
}

export interface RunningServer {
  /** The bound RPC address, `host:port`. */
  readonly address: string;
  /** The bound gateway address, or "" without a gateway. */
  readonly gatewayAddress: string;
  readonly dataDir: string;
  /** The server's own registry, store and events (for embedding and tests). */
  readonly registry: Registry;
  readonly store: Store;
  readonly events: Events;
  // --- auth (issue 5) ---
  /** The server's Auth (on its store), and whether it is enforced. */
  readonly auth: DefaultAuth;
  readonly authEnabled: boolean;
  // --- end auth ---
  /** Stops the gateway, ends every stream, closes the listener, flushes the store and log. Idempotent. */
  stop(): Promise<void>;
}

/** The core services, in the order they are listed. */
export const CORE_SERVICES = ["registry", "broker", "store", "config", "events", "auth", "runtime"] as const;

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = resolve(opts.dataDir ?? process.env["MICRO_DATA_DIR"] ?? join(homedir(), ".micro"));
  mkdirSync(dataDir, { recursive: true });
  const logger = opts.logger ?? createLogger({ fields: { service: "micro.server" } });
  const transport = opts.transport ?? tcpTransport({ logger });
  const registry = opts.registry ?? memoryRegistry({ sweepInterval: opts.sweepInterval ?? 1000 });
  let store: Store;
  if (opts.store) store = opts.store;
  else {
    const fs = fileStore({ dir: join(dataDir, "store"), logger });
    await fs.open();
    store = fs;
  }
  const events = opts.events ?? (await fileEvents({ dir: join(dataDir, "events"), logger }));

  const broker = new BrokerHandler(opts.broker);
  const config = new ConfigHandler(store);
  const proxy = opts.proxy === false ? undefined : new Proxy({ registry, transport, logger });
  const rpc = new RpcServer({
    name: "micro.server",
    aliases: CORE_SERVICES,
    transport,
    address: opts.address ?? "127.0.0.1:8081",
    logger,
    ...(proxy ? { fallback: proxy.handle } : {}),
  });
  const registryHandler = new RegistryHandler(registry);
  const eventsHandler = new EventsHandler(events);
  rpc.handle(registryHandler, { name: "Registry" });
  rpc.handle(broker, { name: "Broker" });
  rpc.handle(new StoreHandler(store), { name: "Store" });
  rpc.handle(config, { name: "Config" });
  rpc.handle(eventsHandler, { name: "Events" });
  // --- auth (issue 5) ---
  const auth = newAuth({ store });
  const decision = shouldEnableAuth([opts.address ?? "127.0.0.1:8081", opts.gatewayAddress ?? "127.0.0.1:8080"], opts.auth);
  if (decision.warning) {
    logger.warn(decision.warning);
    process.stderr.write(`\n!!! ${decision.warning}\n\n`);
  }
  rpc.handle(new AuthHandler(auth), { name: "Auth" });
  if (decision.enabled) {
    await bootstrapAuth(auth, opts.announceAdmin ? { announce: opts.announceAdmin } : {});
    rpc.use(coreAuthMiddleware(auth));
  }
  // --- end auth ---
  const address = await rpc.start();
  // The local runtime (`micro run`): the services it starts are pointed at this server.
  const runtime = localRuntime({ dataDir: join(dataDir, "runtime"), env: { MICRO_SERVER: address } });
  rpc.handle(new RuntimeHandler(runtime), { name: "Runtime" });

  // One record per core service, all on this listener, so `micro services` shows them.
  const records: ServiceRecord[] = CORE_SERVICES.map((name) => {
    const prefix = `${name[0]!.toUpperCase()}${name.slice(1)}.`;
    return {
      name,
      version: "latest",
      metadata: { server: "micro-ts" },
      endpoints: rpc.endpoints().filter((e) => e.name.startsWith(prefix)),
      nodes: [{ id: `${name}-${address}`, address, metadata: { transport: transport.name, protocol: "mucp", server: "micro-ts" } }],
    };
  });
  for (const r of records) await registry.register(r);

  // The gateway calls services found in this server's registry: what registered here is reachable over HTTP.
  const client = new RpcClient({ registry, transport });
  let gateway: Gateway | undefined;
  let gatewayAddress = "";
  if (opts.gatewayAddress !== false) {
    // --- auth (issue 5): with auth on, the gateway checks tokens and rules, and forwards the token ---
    const gatewayAuth = decision.enabled
      ? {
          authorize: opts.gateway?.authorize ?? gatewayAuthorize({ auth, verifier: localVerifier({ keys: () => auth.publicKeys() }) }),
          metadata: opts.gateway?.metadata ?? ["traceparent", "tracestate", "x-request-id", "authorization"],
        }
      : {};
    gateway = createGateway({ ...(opts.gateway ?? {}), ...gatewayAuth, client, registry, events, logger });
    gatewayAddress = await gateway.listen(opts.gatewayAddress ?? "127.0.0.1:8080");
  }
  logger.info("micro server started", { address, gateway: gatewayAddress || "off", dataDir });

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await gateway?.close();
    // End the long-lived streams first, so draining waits only for ordinary calls.
    registryHandler.close();
    broker.close();
    config.close();
    eventsHandler.close();
    await rpc.stop({ drainTimeout: 2000 });
    await runtime.stop();
    await proxy?.close();
    await client.close();
    await events.close();
    await auth.close(); // auth (issue 5)
    await store.close();
    await registry.close();
    await opts.broker?.close();
    logger.info("micro server stopped", { address });
  };
  return {
    address,
    gatewayAddress,
    dataDir,
    registry,
    store,
    events,
    auth, // auth (issue 5)
    authEnabled: decision.enabled, // auth (issue 5)
    stop: () => (stopping ??= stop()),
  };
}

/** `node server.ts [--data-dir DIR] [--address HOST:PORT] [--gateway-address HOST:PORT|off]`; prints the addresses as JSON. */
async function main(argv: string[]): Promise<void> {
  const opts: ServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--data-dir") opts.dataDir = value();
    else if (flag === "--address") opts.address = value();
    else if (flag === "--gateway-address") {
      const v = value();
      opts.gatewayAddress = v === "off" ? false : v;
    } else if (flag === "--auth") {
      // auth (issue 5): --auth, --auth=true, --auth=false
      opts.auth = inline === undefined ? true : inline !== "false" && inline !== "off";
    } else {
      process.stderr.write(`unknown flag ${flag}\nusage: micro server [--data-dir DIR] [--address HOST:PORT] [--gateway-address HOST:PORT|off] [--auth[=false]]\n`);
      process.exit(2);
    }
  }
  const s = await startServer(opts);
  process.stdout.write(`${JSON.stringify({ address: s.address, gatewayAddress: s.gatewayAddress, dataDir: s.dataDir })}\n`);
  const onSignal = () => {
    s.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`micro server: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
