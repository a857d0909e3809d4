/**
 * micro mcp serve / list / call: every registered endpoint as an MCP tool (@micro-ts/server's
 * MCP server over the current env's registry and client). `serve` owns stdout for the protocol:
 * it prints nothing else there, and logs to stderr.
 */
import type { Command } from "commander";
import { createLogger, errors, localVerifier, MicroError, serviceAuth, type Auth } from "@micro-ts/micro";
import type { McpServerOptions, McpTool, createMcpServer, mcpAuth, mcpTools, serveStdio } from "@micro-ts/server";
import { jsonArg, type Ctx } from "../context.js";
import { UsageError } from "../flags.js";
import { table } from "../output.js";
import type { Wrap } from "./runtime.js";

interface McpModule {
  createMcpServer: typeof createMcpServer;
  serveStdio: typeof serveStdio;
  mcpTools: typeof mcpTools;
  mcpAuth: typeof mcpAuth;
}

/** @micro-ts/server is loaded only when an MCP command runs, as for `micro server`. */
async function loadMcp(): Promise<McpModule> {
  const name = "@micro-ts/server";
  let mod: Partial<McpModule>;
  try {
    mod = (await import(name)) as Partial<McpModule>;
  } catch (err) {
    throw new Error(`micro mcp needs ${name}: npm install ${name} (${(err as Error).message})`);
  }
  if (typeof mod.createMcpServer !== "function" || typeof mod.mcpTools !== "function") throw new Error(`${name} has no MCP server yet; update it`);
  return mod as McpModule;
}

interface Session {
  options: McpServerOptions;
  close(): Promise<void>;
}

/**
 * The MCP options for the current env: its registry and client (whose calls carry the login's
 * token, refreshed when due), and with a login on a server with auth, the rule hooks that hide
 * and refuse what the account may not call.
 */
async function session(ctx: Ctx, mod: McpModule): Promise<Session> {
  const p = await ctx.platform();
  const logger = createLogger({ out: process.stderr, fields: { component: "micro mcp" } });
  const options: McpServerOptions = { registry: p.registry, client: p.client, timeout: ctx.timeout, logger };
  const token = await p.token();
  if (!token) return { options, close: async () => {} };
  const auth: Auth = serviceAuth({ address: p.address, timeout: ctx.timeout, token: async () => (await p.token()) ?? "" });
  let rules;
  try {
    rules = await auth.rules();
  } catch (err) {
    logger.warn("cannot read the server's rules: tools are listed unfiltered, services still check every call", { error: (err as Error).message });
  }
  // A server without auth has no rules at all (one with auth always has its defaults).
  if (rules && rules.length > 0) {
    const hooks = mod.mcpAuth({ verifier: localVerifier({ keys: () => auth.publicKeys() }), rules: auth });
    // The token is read per request rather than fixed: a long `serve` outlives one access token.
    const fresh = async (t: string | undefined) => t ?? (await p.token());
    options.authorize = async (t, service, endpoint) => hooks.authorize(await fresh(t), service, endpoint);
    options.listAllowed = async (t, tools) => hooks.listAllowed(await fresh(t), tools);
  }
  return { options, close: () => auth.close() };
}

export function mcpCommands(program: Command, wrap: Wrap): void {
  const mcp = program.command("mcp").description("services as tools for AI agents (Model Context Protocol)");

  mcp
    .command("serve")
    .description("speak MCP on stdin/stdout for a desktop agent or IDE (logs on stderr)")
    .action(
      wrap(async (ctx) => {
        const mod = await loadMcp();
        const s = await session(ctx, mod);
        try {
          const stdio = await mod.serveStdio(mod.createMcpServer(s.options));
          const stop = () => void stdio.close();
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
          const p = await ctx.platform();
          process.stderr.write(`micro mcp: serving the tools of ${p.address} on stdio\n`);
          await stdio.closed;
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        } finally {
          await s.close();
        }
      }),
    );

  mcp
    .command("list")
    .description("the tools an agent would see")
    .action(
      wrap(async (ctx) => {
        const mod = await loadMcp();
        const s = await session(ctx, mod);
        const tools = mod.mcpTools(s.options);
        try {
          const list = await tools.list();
          ctx.out.print(list, () => (list.length === 0 ? "no tools (no services registered)" : table(["TOOL", "DESCRIPTION"], list.map(row))));
        } finally {
          tools.close();
          await s.close();
        }
      }),
    );

  mcp
    .command("call")
    .description(`call a tool: micro mcp call greeter_Greeter_Hello '{"name":"Ada"}'`)
    .argument("<tool>", "the tool's name (see `micro mcp list`)")
    .argument("[arguments]", "the arguments as a JSON object", undefined)
    .action(
      wrap(async (ctx, name: string, json?: string) => {
        const args = jsonArg("arguments", json);
        if (typeof args !== "object" || args === null || Array.isArray(args)) throw new UsageError("arguments must be a JSON object");
        const mod = await loadMcp();
        const s = await session(ctx, mod);
        const tools = mod.mcpTools(s.options);
        try {
          let result;
          try {
            result = await tools.call(name, args);
          } catch (err) {
            // The SDK's McpError: an unknown tool (arguments were checked above).
            if (err instanceof MicroError) throw err;
            throw errors.notFound("micro.mcp", `${(err as Error).message.replace(/^MCP error -?\d+: /, "")}; see \`micro mcp list\``);
          }
          if (result.isError) throw toolError(result.structuredContent);
          ctx.out.print(result.structuredContent ?? null);
        } finally {
          tools.close();
          await s.close();
        }
      }),
    );
}

function row(t: McpTool): string[] {
  return [t.name, (t.description ?? "").split("\n")[0] ?? ""];
}

/** A tool error's `{ error: {id, code, detail, status} }` as the MicroError it was. */
function toolError(structured: unknown): MicroError {
  const e = (structured as { error?: { id?: unknown; code?: unknown; detail?: unknown } } | undefined)?.error;
  if (e && typeof e.detail === "string") {
    return new MicroError(typeof e.id === "string" ? e.id : "micro.mcp", e.detail, typeof e.code === "number" ? e.code : 500);
  }
  return errors.internalServerError("micro.mcp", "the tool failed without saying why");
}
