/** micro run / status / logs / kill / update: the server's runtime. */
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { MicroError, type ServiceStatus } from "@micro-ts/micro";
import { Ctx, type GlobalOptions } from "../context.js";
import { UsageError } from "../flags.js";
import { ago, table } from "../output.js";
import { serviceLogs } from "./debug.js";

type Action = (ctx: Ctx, ...args: never[]) => Promise<void>;
export type Wrap = (fn: Action) => (...args: unknown[]) => Promise<void>;

async function defaultName(dir: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { name?: unknown };
    if (typeof pkg.name === "string" && pkg.name) return pkg.name.replace(/^@[^/]+\//, "");
  } catch {
    // no package.json: the directory's name
  }
  return basename(dir);
}

function collectEnv(v: string, prev: Record<string, string>): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`want KEY=VALUE`);
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

function statusRows(list: ServiceStatus[]): string[][] {
  return list.map((s) => [
    s.name,
    s.version,
    s.status,
    s.pid !== undefined ? String(s.pid) : "-",
    String(s.restarts),
    s.started !== undefined && s.status === "running" ? ago(s.started) : "-",
    s.error ?? "",
  ]);
}

export function runtimeCommands(program: Command, wrap: Wrap): void {
  program
    .command("run")
    .description("run a service directory under the server's runtime (restarted on crash)")
    .argument("<dir>", "the service's directory")
    .option("--name <name>", "name to run it under (default: package.json name or the directory's)")
    .option("--version <version>", "version label", "latest")
    .option("--watch", "restart when a file in the directory changes")
    .option("--env <KEY=VALUE>", "extra environment (repeatable)", collectEnv, {})
    .action(
      wrap(async (ctx, dir: string, o: { name?: string; version: string; watch?: boolean; env: Record<string, string> }) => {
        const source = resolve(dir);
        const name = o.name ?? (await defaultName(source));
        const p = await ctx.platform();
        await p.runtime.create({ name, source, version: o.version, env: o.env }, { watch: o.watch === true });
        ctx.out.print({ name, source, status: "started" }, () => `started ${name} from ${source}\n  micro status ${name}\n  micro logs ${name} -f`);
      }),
    );

  program
    .command("status")
    .description("services started with micro run: status, pid, restarts")
    .argument("[name]", "only this service")
    .action(
      wrap(async (ctx, name?: string) => {
        const list = await (await ctx.platform()).runtime.read(name ? { name } : {});
        ctx.out.print(list, () =>
          list.length === 0
            ? "no services running (start one with `micro run DIR`)"
            : table(["NAME", "VERSION", "STATUS", "PID", "RESTARTS", "UPTIME", "ERROR"], statusRows(list)),
        );
      }),
    );

  program
    .command("logs")
    .description("a service's output (stdout, stderr and runtime notices); for services not started by micro run, its logger's records")
    .argument("<name>", "the service")
    .option("-f, --follow", "keep printing new lines")
    .option("-n, --lines <count>", "how many past lines", "100")
    .action(
      wrap(async (ctx, name: string, o: { follow?: boolean; lines: string }) => {
        const count = Number(o.lines);
        if (!Number.isInteger(count) || count < 0) throw new UsageError(`--lines must be a whole number, got ${o.lines}`);
        const p = await ctx.platform();
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        let printed = false;
        try {
          try {
            for await (const r of p.runtime.logs(name, { count, stream: o.follow === true, signal: ac.signal })) {
              printed = true;
              ctx.out.print(r, () => (r.stream === "runtime" ? `[micro] ${r.text}` : r.text));
            }
          } catch (err) {
            // Not started by `micro run` (or no runtime at all): read the service's own Debug.Log/Logs.
            if (printed || ac.signal.aborted || !(err instanceof MicroError && err.code === 404)) throw err;
            await serviceLogs(ctx, name, { count, follow: o.follow === true, signal: ac.signal });
          }
        } catch (err) {
          if (!ac.signal.aborted) throw err;
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      }),
    );

  program
    .command("kill")
    .description("stop a service started with micro run")
    .argument("<name>", "the service")
    .action(
      wrap(async (ctx, name: string) => {
        await (await ctx.platform()).runtime.delete(name);
        ctx.out.print({ name, status: "stopped" }, () => `stopped ${name}`);
      }),
    );

  program
    .command("update")
    .description("restart a service started with micro run, with the code now on disk")
    .argument("<name>", "the service")
    .action(
      wrap(async (ctx, name: string) => {
        await (await ctx.platform()).runtime.update(name);
        ctx.out.print({ name, status: "restarted" }, () => `restarted ${name}`);
      }),
    );
}

export type { GlobalOptions };
