/** Commands that need no server: env, new, and server itself. */
import { join } from "node:path";
import { Command } from "commander";
import {
  loadPlugin,
  localRuntime,
  PLUGINS,
  RpcServer,
  RuntimeHandler,
  RUNTIME_SERVICE,
  tcpTransport,
  type Broker,
  type Events,
  type Registry,
  type ServiceRecord,
  type Store,
} from "@micro-ts/micro";
import { configDir, DEFAULT_ENV, loadEnvs, saveEnvs, validAddress } from "../env.js";
import { UsageError } from "../flags.js";
import { table } from "../output.js";
import { scaffold, TEMPLATES, type Template } from "../scaffold.js";
import type { Wrap } from "./runtime.js";

export function localCommands(program: Command, wrap: Wrap): void {
  const env = program
    .command("env")
    .description("which server the CLI talks to (default env `local` = 127.0.0.1:8081)")
    .action(
      wrap(async (ctx) => {
        const c = await loadEnvs();
        const rows = Object.entries(c.envs).map(([name, e]) => ({ name, address: e.address, current: name === c.current }));
        ctx.out.print(rows, () => table(["", "ENV", "ADDRESS"], rows.map((r) => [r.current ? "*" : " ", r.name, r.address])));
      }),
    );
  env
    .command("set")
    .description("make NAME the current env")
    .argument("<name>", "an env from `micro env`")
    .action(
      wrap(async (ctx, name: string) => {
        const c = await loadEnvs();
        if (!c.envs[name]) throw new UsageError(`no env named ${name}; add it with \`micro env add ${name} HOST:PORT\``);
        await saveEnvs({ ...c, current: name });
        ctx.out.print({ current: name, address: c.envs[name].address }, () => `current env: ${name} (${c.envs[name]!.address})`);
      }),
    );
  env
    .command("add")
    .description("add (or change) an env")
    .argument("<name>", "the env's name")
    .argument("<address>", "the server's HOST:PORT")
    .action(
      wrap(async (ctx, name: string, address: string) => {
        if (!/^[A-Za-z0-9][\w.-]*$/.test(name)) throw new UsageError(`invalid env name ${JSON.stringify(name)}`);
        if (!validAddress(address)) throw new UsageError(`invalid address ${JSON.stringify(address)}: want HOST:PORT`);
        const c = await loadEnvs();
        await saveEnvs({ ...c, envs: { ...c.envs, [name]: { address } } });
        ctx.out.print({ name, address }, () => `added env ${name} (${address}); use it with \`micro env set ${name}\``);
      }),
    );
  env
    .command("delete")
    .description("remove an env")
    .argument("<name>", "the env")
    .action(
      wrap(async (ctx, name: string) => {
        const c = await loadEnvs();
        if (name === DEFAULT_ENV) throw new UsageError(`the ${DEFAULT_ENV} env cannot be removed`);
        if (!c.envs[name]) throw new UsageError(`no env named ${name}`);
        const envs = { ...c.envs };
        delete envs[name];
        await saveEnvs({ current: c.current === name ? DEFAULT_ENV : c.current, envs });
        ctx.out.print({ name, deleted: true }, () => `removed env ${name}`);
      }),
    );

  program
    .command("new")
    .description("scaffold a TypeScript service")
    .argument("<name>", "the service's name (and directory)")
    .option("-t, --template <template>", `one of ${TEMPLATES.join(", ")}`, "basic")
    .action(
      wrap(async (ctx, name: string, o: { template: string }) => {
        if (!TEMPLATES.includes(o.template as Template)) throw new UsageError(`unknown template ${o.template}: one of ${TEMPLATES.join(", ")}`);
        const { dir, files } = await scaffold(name, o.template as Template);
        ctx.out.print({ dir, files, template: o.template }, () =>
          [`created ${dir} (${o.template})`, ...files.map((f) => `  ${f}`), "", "next:", `  cd ${name} && npm install && npm start`, `  or, with micro server running: micro run ${name}`].join("\n"),
        );
      }),
    );

  program
    .command("server")
    .description("run the platform: registry, broker, store, config, events, runtime and the API gateway")
    .option("--address <host:port>", "RPC address of the core services", "127.0.0.1:8081")
    .option("--gateway-address <host:port>", "HTTP address of the API gateway", "127.0.0.1:8080")
    .option("--data-dir <dir>", "where state lives (default ~/.micro/data)")
    .option("--dashboard-address <host:port|off>", "HTTP address of the web dashboard (default 127.0.0.1:8082)")
    .option("--auth [on]", "require tokens (default: on only when a listener is not on loopback); --auth=false to force off")
    .option("--registry <name>", `registry engine: memory (default), ${Object.keys(PLUGINS.registry).join(", ")}`)
    .option("--registry-address <addr>", "the registry engine's address")
    .option("--store <name>", `store engine: file (default), ${Object.keys(PLUGINS.store).join(", ")}`)
    .option("--store-address <addr>", "the store engine's address (URL)")
    .option("--broker <name>", `broker engine: in-process (default), ${Object.keys(PLUGINS.broker).join(", ")}`)
    .option("--broker-address <addr>", "the broker engine's address")
    .option("--events <name>", `events engine: file (default), ${Object.keys(PLUGINS.events).join(", ")}`)
    .option("--events-address <addr>", "the events engine's address")
    .action(
      wrap(async (ctx, o: ServerFlags) => {
        for (const a of [o.address, o.gatewayAddress]) if (!validAddress(a)) throw new UsageError(`invalid address ${JSON.stringify(a)}: want HOST:PORT`);
        const engines = await loadEngines(o);
        const { startServer } = await loadServer();
        const dataDir = o.dataDir ?? join(configDir(), "data");
        const auth = o.auth === undefined ? undefined : o.auth === true || o.auth === "on" || o.auth === "true";
        const dashboard = o.dashboardAddress === undefined ? {} : { dashboard: o.dashboardAddress === "off" ? (false as const) : o.dashboardAddress };
        const server = await startServer({ dataDir, address: o.address, gatewayAddress: o.gatewayAddress, ...engines, ...dashboard, ...(auth === undefined ? {} : { auth }) });
        const hasRuntime = await server.registry.getService(RUNTIME_SERVICE).then(
          (r) => r.length > 0,
          () => false, // a registry may answer "not found" with a 404
        );
        const runtime = hasRuntime ? undefined : await hostRuntime(server);
        const info = { address: server.address, gateway: server.gatewayAddress, dashboard: server.dashboardAddress ?? "", dataDir, runtime: runtime?.address ?? server.address };
        ctx.out.print(info, () =>
          `micro server\n  rpc       ${info.address}\n  gateway   http://${info.gateway}\n  dashboard ${info.dashboard ? `http://${info.dashboard}` : "off"}\n  runtime   ${info.runtime}\n  data      ${dataDir}`,
        );
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        await runtime?.stop();
        await server.stop();
      }),
    );
}

interface ServerFlags {
  address: string;
  gatewayAddress: string;
  dashboardAddress?: string;
  dataDir?: string;
  auth?: string | boolean;
  registry?: string;
  registryAddress?: string;
  store?: string;
  storeAddress?: string;
  broker?: string;
  brokerAddress?: string;
  events?: string;
  eventsAddress?: string;
}

/** Plugin engines named by flags; the embedded defaults need nothing. */
async function loadEngines(o: ServerFlags): Promise<{ registry?: Registry; store?: Store; broker?: Broker; events?: Events }> {
  const out: { registry?: Registry; store?: Store; broker?: Broker; events?: Events } = {};
  const pick = (kind: keyof typeof PLUGINS, name: string | undefined, builtin: string[]): string | undefined => {
    if (name === undefined || builtin.includes(name)) return undefined;
    if (!PLUGINS[kind][name]) throw new UsageError(`unknown ${kind} "${name}": want ${[...builtin, ...Object.keys(PLUGINS[kind])].join(", ")}`);
    return name;
  };
  const r = pick("registry", o.registry, ["memory"]);
  if (r) out.registry = await loadPlugin<Registry>("registry", r, o.registryAddress);
  const s = pick("store", o.store, ["file"]);
  if (s) out.store = await loadPlugin<Store>("store", s, o.storeAddress, "micro");
  const b = pick("broker", o.broker, ["memory"]);
  if (b) out.broker = await loadPlugin<Broker>("broker", b, o.brokerAddress);
  const e = pick("events", o.events, ["file"]);
  if (e) out.events = await loadPlugin<Events>("events", e, o.eventsAddress);
  return out;
}

interface RunningServer {
  address: string;
  gatewayAddress: string;
  dashboardAddress?: string;
  dataDir: string;
  registry: Registry;
  stop(): Promise<void>;
}

/**
 * Serves a local runtime next to the server when the server has none of its own: its own listener
 * on the server's host, registered in the server's registry as `runtime`. Its children get
 * MICRO_SERVER, so what `micro run` starts uses this server with nothing else set.
 */
async function hostRuntime(server: RunningServer): Promise<{ address: string; stop(): Promise<void> }> {
  const runtime = localRuntime({ dataDir: join(server.dataDir, "runtime"), env: { MICRO_SERVER: server.address } });
  const host = server.address.slice(0, server.address.lastIndexOf(":"));
  const rpc = new RpcServer({ name: RUNTIME_SERVICE, transport: tcpTransport(), address: `${host}:0` });
  rpc.handle(new RuntimeHandler(runtime));
  const address = await rpc.start();
  const record: ServiceRecord = {
    name: RUNTIME_SERVICE,
    version: "latest",
    metadata: { server: "micro-ts" },
    endpoints: rpc.endpoints(),
    nodes: [{ id: `${RUNTIME_SERVICE}-${address}`, address, metadata: { server: "micro-ts" } }],
  };
  await server.registry.register(record);
  return {
    address,
    async stop() {
      await runtime.stop();
      await server.registry.deregister(record).catch(() => {});
      await rpc.stop();
    },
  };
}
type StartServer = (o: {
  dataDir: string;
  address: string;
  gatewayAddress: string;
  dashboard?: string | false;
  auth?: boolean;
  registry?: Registry;
  store?: Store;
  broker?: Broker;
  events?: Events;
}) => Promise<RunningServer>;

/** @micro-ts/server is loaded only for `micro server`, so the rest of the CLI works without it. */
async function loadServer(): Promise<{ startServer: StartServer }> {
  const name = "@micro-ts/server";
  let mod: Record<string, unknown>;
  try {
    mod = (await import(name)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`micro server needs ${name}: npm install ${name} (${(err as Error).message})`);
  }
  if (typeof mod["startServer"] !== "function") throw new Error(`${name} has no startServer export yet; update it`);
  return { startServer: mod["startServer"] as StartServer };
}
