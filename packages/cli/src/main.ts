/** The `micro` command. `main(argv)` returns the exit code: 0 ok, 1 failed, 2 wrong usage. */
import { Command, CommanderError, Option } from "commander";
import { MicroError } from "@micro-ts/micro";
import { authCommands } from "./commands/auth.js";
import { dataCommands } from "./commands/data.js";
import { debugCommands } from "./commands/debug.js";
import { localCommands } from "./commands/local.js";
import { mcpCommands } from "./commands/mcp.js";
import { runtimeCommands, type Wrap } from "./commands/runtime.js";
import { dynamic, serviceCommands } from "./commands/services.js";
import { Ctx, type GlobalOptions } from "./context.js";
import { parseDynamic, UsageError } from "./flags.js";
import { isUnreachable } from "./platform.js";

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Thrown by a command's action to end with a code (errors already printed). */
class Done extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function usageOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return `usage: ${names.join(" ")} ${cmd.usage()}`;
}

function build(state: { ctx?: Ctx }): Command {
  const program = new Command("micro")
    .description("Micro for TypeScript: build, run and call services")
    .addOption(new Option("-o, --output <format>", "text or json").choices(["text", "json"]).default("text"))
    .option("--server <host:port>", "talk to this server instead of the current env's (also MICRO_SERVER)")
    .option("--timeout <ms>", "per-call timeout in ms", "5000")
    .showSuggestionAfterError(false)
    .enablePositionalOptions(false);

  const wrap: Wrap = (fn) =>
    async function (this: Command, ...args: unknown[]) {
      const cmd = args[args.length - 1] as Command;
      try {
        state.ctx = new Ctx(cmd.optsWithGlobals<GlobalOptions>());
        await (fn as (ctx: Ctx, ...a: unknown[]) => Promise<void>)(state.ctx, ...args.slice(0, -1));
      } catch (err) {
        throw report(err, state.ctx, cmd);
      }
    };

  localCommands(program, wrap);
  runtimeCommands(program, wrap);
  serviceCommands(program, wrap);
  dataCommands(program, wrap);
  authCommands(program, wrap);
  mcpCommands(program, wrap);
  debugCommands(program, wrap);
  return program;
}

/** Prints an error the way the CLI promises; returns what to throw. */
function report(err: unknown, ctx: Ctx | undefined, cmd: Command | undefined): Done {
  if (err instanceof Done) return err;
  const write = (s: string) => process.stderr.write(`${s}\n`);
  if (err instanceof UsageError) {
    write(`micro: ${err.message}`);
    if (cmd) write(usageOf(cmd));
    return new Done(EXIT.usage);
  }
  const p = ctx?.opened;
  if (p && isUnreachable(err)) {
    write(`micro: cannot reach the micro server at ${p.address} (env ${p.env}): start it with \`micro server\`, or pick another with \`micro env set NAME\``);
    return new Done(EXIT.failed);
  }
  if (err instanceof MicroError) {
    const m = /^service (\S+) not found$/.exec(err.detail);
    if (err.code === 404 && m) {
      write(`micro: service ${m[1]} is not running; start it with \`micro run ./${m[1]}\` (see \`micro services\`)`);
    } else if (ctx?.out.format === "json") {
      write(JSON.stringify(err.toJSON()));
    } else {
      write(`micro: ${err.detail} (${err.code} ${err.status}, from ${err.id})`);
      if (err.code === 401 && !/micro login/.test(err.detail)) write("micro: log in with `micro login` (see `micro user`)");
    }
    return new Done(EXIT.failed);
  }
  write(`micro: ${(err as Error)?.message ?? String(err)}`);
  return new Done(EXIT.failed);
}

function configure(cmd: Command, onError: (cmd: Command, message: string) => void): void {
  // The exit callback is per command (the output configuration is shared), so it names the culprit.
  cmd.exitOverride((err) => {
    onError(cmd, err.message.replace(/^error: /, ""));
    throw err;
  });
  cmd.configureOutput({ outputError: () => {} });
  cmd.allowExcessArguments(false);
  for (const c of cmd.commands) configure(c, onError);
}

export async function main(argv: string[]): Promise<number> {
  const state: { ctx?: Ctx } = {};
  const program = build(state);
  let usage: { cmd: Command; message: string } | undefined;
  configure(program, (cmd, message) => (usage = { cmd, message }));
  const known = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]).concat("help"));
  try {
    const first = argv.find((a, i) => !a.startsWith("-") && !["-o", "--output", "--server", "--timeout"].includes(argv[i - 1] ?? ""));
    if (first !== undefined && !known.has(first)) {
      // Not a command: a service name (`micro greeter hello --name=Ada`).
      const at = argv.indexOf(first);
      const globals = program.parseOptions(argv.slice(0, at));
      if (globals.unknown.length > 0) throw new UsageError(`unknown option ${globals.unknown[0]}`);
      try {
        const d = parseDynamic(argv.slice(at + 1));
        state.ctx = new Ctx({ ...program.opts<GlobalOptions>(), ...d.cli });
        await dynamic(state.ctx, first, d);
      } catch (err) {
        throw report(err, state.ctx, program);
      }
    } else {
      await program.parseAsync(argv, { from: "user" });
    }
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof Done) return err.code;
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") return EXIT.ok;
      const u = usage as { cmd: Command; message: string } | undefined;
      process.stderr.write(`micro: ${u?.message ?? err.message.replace(/^error: /, "")}\n`);
      if (u) process.stderr.write(`${usageOf(u.cmd)}\n`);
      return EXIT.usage;
    }
    return report(err, state.ctx, undefined).code;
  } finally {
    await state.ctx?.close();
  }
}
