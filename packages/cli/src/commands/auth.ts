/**
 * micro login / logout / user, and micro auth create|list|delete account|rule: the auth service
 * of the current env's server. Secrets are read from flags, a TTY prompt or stdin, and never
 * printed: the one exception is the secret `auth create account` generates, shown once.
 */
import { Argument, Option, type Command } from "commander";
import { ACCESS, ACCOUNT_TYPES, errors, serviceAuth, type Account, type Auth, type Rule } from "@micro-ts/micro";
import type { Ctx } from "../context.js";
import { UsageError } from "../flags.js";
import { deleteLogin, login, loginKey, saveLogin } from "../login.js";
import { table } from "../output.js";
import type { Wrap } from "./runtime.js";

export function authCommands(program: Command, wrap: Wrap): void {
  program
    .command("login")
    .description("log in to the current env's server; the tokens are kept (0600) and refreshed on use")
    .option("--id <id>", "the account", "admin")
    .option("--password <password>", "the secret (default: prompted on a TTY, else the first line of stdin)")
    .action(
      wrap(async (ctx, o: { id: string; password?: string }) => {
        const p = await ctx.platform();
        const secret = o.password ?? (await readSecret(`password for ${o.id}: `));
        if (secret === "") throw new UsageError("no password given: use --password, type it at the prompt, or pipe it on stdin");
        const { stored, account } = await login(p.address, { id: o.id, secret }, ctx.timeout);
        await saveLogin(loginKey(p.env, p.address), stored);
        const where = p.env.startsWith("(") ? p.address : `env ${p.env} (${p.address})`;
        ctx.out.print({ env: p.env, address: p.address, account, expiry: stored.expiry }, () => `logged in to ${where} as ${account.id} (${account.type}, scopes: ${account.scopes.join(",") || "-"})`);
      }),
    );

  program
    .command("logout")
    .description("forget the current env's login")
    .action(
      wrap(async (ctx) => {
        const p = await ctx.platform();
        const removed = await deleteLogin(loginKey(p.env, p.address));
        ctx.out.print({ env: p.env, loggedOut: removed }, () => (removed ? `logged out of ${p.env.startsWith("(") ? p.address : `env ${p.env}`}` : "not logged in"));
      }),
    );

  program
    .command("user")
    .description("who am I: the account of the current env's login")
    .action(
      wrap(async (ctx) => {
        const p = await ctx.platform();
        const token = await p.token();
        if (!token) {
          throw errors.unauthorized("micro.cli", `not logged in to ${p.env.startsWith("(") ? p.address : `env ${p.env}`}; log in with \`micro login\``);
        }
        const account = await withAuth(ctx, (auth) => auth.inspect(token));
        ctx.out.print(account, () => describeAccount(account));
      }),
    );

  const auth = program.command("auth").description("accounts and rules of the current env's server (needs a login with scope admin)");

  const create = auth.command("create").description("create an account or a rule");
  create
    .command("account")
    .description("create an account; prints its secret once when none is given")
    .argument("<id>", "the account's id")
    .option("--scopes <a,b>", "its scopes, comma-separated", "")
    .addOption(new Option("--type <type>", "user or service").choices([...ACCOUNT_TYPES]).default("user"))
    .option("--secret <secret>", "its secret (default: generated and shown once)")
    .action(
      wrap(async (ctx, id: string, o: { scopes: string; type: (typeof ACCOUNT_TYPES)[number]; secret?: string }) => {
        const scopes = o.scopes.split(",").map((s) => s.trim()).filter(Boolean);
        const created = await withAuth(ctx, (a) => a.generate(id, { scopes, type: o.type, ...(o.secret !== undefined ? { secret: o.secret } : {}) }));
        // Only a secret made up by the server is shown, and only here.
        const generated = o.secret === undefined ? created.secret : undefined;
        const { secret: _drop, ...account } = created;
        ctx.out.print(generated ? { ...account, secret: generated } : account, () =>
          [`created account ${account.id}`, describeAccount(account), ...(generated ? [`secret:  ${generated}`, "  (shown once: keep it safe)"] : [])].join("\n"),
        );
      }),
    );
  create
    .command("rule")
    .description("grant or deny a scope access to a resource (type:name:endpoint, each may be * or a prefix*)")
    .requiredOption("--id <id>", "the rule's id (an existing rule of that id is replaced)")
    .requiredOption("--scope <scope>", `"" public, "*" any account, "+" any namespace, else a scope`)
    .requiredOption("--resource <type:name:endpoint>", "e.g. service:greeter:Greeter.*")
    .addOption(new Option("--access <access>", "granted or denied").choices([...ACCESS]).default("granted"))
    .option("--priority <n>", "higher first; at equal priority denied before granted", "0")
    .action(
      wrap(async (ctx, o: { id: string; scope: string; resource: string; access: Rule["access"]; priority: string }) => {
        const rule: Rule = { id: o.id, scope: o.scope, resource: parseResource(o.resource), access: o.access, priority: parsePriority(o.priority) };
        await withAuth(ctx, (a) => a.grant(rule));
        ctx.out.print(rule, () => `created rule ${rule.id}: ${ruleRow(rule).slice(1).join("  ")}`);
      }),
    );

  auth
    .command("list")
    .description("the server's accounts or rules")
    .addArgument(new Argument("<what>", "accounts or rules").choices(["accounts", "rules"]))
    .action(
      wrap(async (ctx, what: "accounts" | "rules") => {
        if (what === "accounts") {
          const list = await withAuth(ctx, (a) => a.accounts());
          ctx.out.print(list, () =>
            list.length === 0 ? "no accounts" : table(["ID", "TYPE", "SCOPES", "ISSUER"], list.map((a) => [a.id, a.type, a.scopes.join(",") || "-", a.issuer])),
          );
        } else {
          const list = await withAuth(ctx, (a) => a.rules());
          ctx.out.print(list, () => (list.length === 0 ? "no rules" : table(["ID", "SCOPE", "RESOURCE", "ACCESS", "PRIORITY"], list.map(ruleRow))));
        }
      }),
    );

  auth
    .command("delete")
    .description("delete an account or a rule")
    .addArgument(new Argument("<what>", "account or rule").choices(["account", "rule"]))
    .argument("<id>", "its id")
    .action(
      wrap(async (ctx, what: "account" | "rule", id: string) => {
        await withAuth(ctx, (a) => (what === "account" ? a.deleteAccount(id) : a.revoke(id)));
        ctx.out.print({ [what]: id, deleted: true }, () => `deleted ${what} ${id}`);
      }),
    );
}

/** Runs `fn` against the server's auth service, as the stored login. */
async function withAuth<T>(ctx: Ctx, fn: (auth: Auth) => Promise<T>): Promise<T> {
  const p = await ctx.platform();
  const token = await p.token();
  // Without a login, no header at all: a server without auth answers anyway, one with auth says 401.
  const auth = serviceAuth({ address: p.address, timeout: ctx.timeout, ...(token ? { token: async () => token } : {}) });
  try {
    return await fn(auth);
  } finally {
    await auth.close();
  }
}

function describeAccount(a: Account): string {
  return [`id:      ${a.id}`, `type:    ${a.type}`, `scopes:  ${a.scopes.join(",") || "-"}`, `issuer:  ${a.issuer}`].join("\n");
}

function ruleRow(r: Rule): string[] {
  return [r.id, JSON.stringify(r.scope), `${r.resource.type}:${r.resource.name}:${r.resource.endpoint}`, r.access, String(r.priority)];
}

/** "service:greeter:Greeter.*" → a resource; each part is required. */
export function parseResource(s: string): Rule["resource"] {
  const parts = s.split(":");
  if (parts.length !== 3 || parts.some((x) => x === "")) throw new UsageError(`--resource must be type:name:endpoint (e.g. service:greeter:Greeter.*), got ${JSON.stringify(s)}`);
  const [type, name, endpoint] = parts as [string, string, string];
  return { type, name, endpoint };
}

function parsePriority(s: string): number {
  const n = Number(s);
  if (s.trim() === "" || !Number.isInteger(n)) throw new UsageError(`--priority must be a whole number, got ${JSON.stringify(s)}`);
  return n;
}

/** A secret from the terminal (not echoed) or, when stdin is not a TTY, its first line. */
async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) {
      text += (chunk as Buffer).toString("utf8");
      if (text.includes("\n")) break;
    }
    return text.split(/\r?\n/)[0] ?? "";
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let s = "";
      const onData = (d: Buffer) => {
        for (const ch of d.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return done(() => resolve(s));
          if (ch === "\u0003") return done(() => reject(new UsageError("cancelled")));
          if (ch === "\u007f" || ch === "\b") s = s.slice(0, -1);
          else s += ch;
        }
      };
      const done = (f: () => void) => {
        stdin.off("data", onData);
        f();
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}
