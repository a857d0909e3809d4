/** micro services / describe / call / stream / health, and dynamic commands (`micro greeter hello --name=Ada`). */
import type { Command } from "commander";
import { MicroError, type Endpoint, type ServiceRecord } from "@micro-ts/micro";
import { Ctx, jsonArg } from "../context.js";
import { toCamel, UsageError, type DynamicArgs } from "../flags.js";
import { health } from "./debug.js";
import type { Wrap } from "./runtime.js";

export function serviceCommands(program: Command, wrap: Wrap): void {
  program
    .command("services")
    .description("services registered with the server")
    .action(
      wrap(async (ctx) => {
        const all = await (await ctx.platform()).registry.listServices();
        const byName = new Map<string, Set<string>>();
        for (const s of all) byName.set(s.name, (byName.get(s.name) ?? new Set()).add(s.version));
        const names = [...byName.keys()].sort();
        ctx.out.print(
          names.map((n) => ({ name: n, versions: [...byName.get(n)!].sort() })),
          () => (names.length === 0 ? "no services registered" : names.join("\n")),
        );
      }),
    );

  program
    .command("describe")
    .description("a service's versions, nodes and endpoints")
    .argument("<name>", "the service")
    .action(
      wrap(async (ctx, name: string) => {
        const recs = await lookup(ctx, name);
        ctx.out.print(recs, () => recs.map(describe).join("\n\n"));
      }),
    );

  program
    .command("call")
    .description("call an endpoint: micro call greeter Greeter.Hello '{\"name\":\"Ada\"}'")
    .argument("<service>", "the service")
    .argument("<endpoint>", "Handler.Method")
    .argument("[request]", "the request as JSON", undefined)
    .action(
      wrap(async (ctx, service: string, endpoint: string, request?: string) => {
        const req = jsonArg("request", request);
        await callAndPrint(ctx, service, endpoint, req);
      }),
    );

  program
    .command("stream")
    .description("call a streaming endpoint; prints one line per item")
    .argument("<service>", "the service")
    .argument("<endpoint>", "Handler.Method")
    .argument("[request]", "the request as JSON", undefined)
    .action(
      wrap(async (ctx, service: string, endpoint: string, request?: string) => {
        const req = jsonArg("request", request);
        const p = await ctx.platform();
        const stream = p.client.stream(service, endpoint, req, { timeout: 2 ** 31 - 1 });
        for await (const item of stream) ctx.out.print(item, () => JSON.stringify(item));
      }),
    );

  program
    .command("health")
    .description("whether every node of a service answers, and its health checks (Debug.Health)")
    .argument("<name>", "the service")
    .action(
      // Debug.Health on every node: its status and failing checks (see commands/debug.ts).
      wrap((ctx, name: string) => health(ctx, name)),
    );
}

/** The service's records; [] when the registry does not know it (some registries answer 404). */
async function records(ctx: Ctx, name: string): Promise<ServiceRecord[]> {
  try {
    return await (await ctx.platform()).registry.getService(name);
  } catch (err) {
    if (err instanceof MicroError && err.code === 404) return [];
    throw err;
  }
}

async function lookup(ctx: Ctx, name: string): Promise<ServiceRecord[]> {
  const recs = await records(ctx, name);
  if (recs.length === 0) throw notRunning(name);
  return recs;
}

export function notRunning(name: string): MicroError {
  return new MicroError("micro.cli", `service ${name} is not running; start it with \`micro run ./${name}\` (see \`micro services\`)`, 404);
}

async function callAndPrint(ctx: Ctx, service: string, endpoint: string, req: unknown): Promise<void> {
  const p = await ctx.platform();
  const rsp = await p.client.call(service, endpoint, req, { timeout: ctx.timeout });
  ctx.out.print(rsp);
}

function shape(v: unknown): string {
  return v === undefined || v === null ? "-" : JSON.stringify(v);
}

function describe(r: ServiceRecord): string {
  const lines = [`${r.name} ${r.version}`, "nodes:"];
  for (const n of r.nodes) lines.push(`  ${n.id}  ${n.address}`);
  lines.push("endpoints:");
  for (const e of r.endpoints ?? []) lines.push(`  ${e.name}  request: ${shape(e.request)}  response: ${shape(e.response)}`);
  return lines.join("\n");
}

function endpointList(name: string, recs: ServiceRecord[]): string {
  const eps = new Map<string, Endpoint>();
  for (const r of recs) for (const e of r.endpoints ?? []) eps.set(e.name, e);
  const rows = [...eps.values()].sort((a, b) => a.name.localeCompare(b.name));
  const cmd = (e: Endpoint) => {
    const [h, m] = e.name.split(".");
    const method = (m ?? "").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
    return h?.toLowerCase() === name.replace(/[-.]/g, "").toLowerCase() ? method : `${h?.toLowerCase()} ${method}`;
  };
  return [
    `usage: micro ${name} <endpoint> [--field=value ...]`,
    "",
    "endpoints:",
    ...rows.map((e) => `  ${cmd(e).padEnd(24)} ${e.name}${e.metadata?.["stream"] === "true" ? " (stream)" : ""}`),
  ].join("\n");
}

/** Finds the endpoint named by the words after the service: `hello`, `say-hello`, `handler method`. */
export function resolveEndpoint(service: string, words: string[], recs: ServiceRecord[]): Endpoint | string {
  const eps = recs.flatMap((r) => r.endpoints ?? []);
  let wanted: string;
  if (words.length === 1) {
    const m = toCamel(words[0]!).toLowerCase();
    const exact = eps.filter((e) => e.name.split(".")[1]?.toLowerCase() === m);
    const own = exact.find((e) => e.name.split(".")[0]!.toLowerCase() === toCamel(service.replace(/\./g, "-")).toLowerCase());
    if (own ?? exact[0]) return (own ?? exact[0])!;
    wanted = `${toCamel(service.replace(/\./g, "-"))}.${toCamel(words[0]!)}`;
  } else if (words.length === 2) {
    wanted = `${toCamel(words[0]!)}.${toCamel(words[1]!)}`;
    const hit = eps.find((e) => e.name.toLowerCase() === wanted.toLowerCase());
    if (hit) return hit;
  } else {
    throw new UsageError(`micro ${service} takes an endpoint (e.g. \`micro ${service} hello --name=Ada\`), got ${words.length} words`);
  }
  return eps.length > 0 ? wanted : wanted;
}

/** `micro greeter hello --name=Ada`: argv starts with the service name. */
export async function dynamic(ctx: Ctx, service: string, d: DynamicArgs): Promise<void> {
  const p = await ctx.platform();
  const recs = await records(ctx, service);
  if (recs.length === 0) {
    throw new UsageError(`unknown command or service: ${service} (not a micro command, and no service of that name is registered; see \`micro --help\` and \`micro services\`)`);
  }
  if (d.cli.help || d.words.length === 0) {
    ctx.out.print(recs.flatMap((r) => r.endpoints ?? []), () => endpointList(service, recs));
    return;
  }
  const ep = resolveEndpoint(service, d.words, recs);
  const name = typeof ep === "string" ? ep : ep.name;
  const known = recs.flatMap((r) => r.endpoints ?? []);
  if (typeof ep === "string" && known.length > 0) {
    throw new UsageError(`service ${service} has no endpoint ${d.words.join(" ")}; see \`micro ${service} --help\``);
  }
  if (typeof ep !== "string" && ep.metadata?.["stream"] === "true") {
    for await (const item of p.client.stream(service, name, d.request, { timeout: 2 ** 31 - 1 })) ctx.out.print(item, () => JSON.stringify(item));
    return;
  }
  await callAndPrint(ctx, service, name, d.request);
}
