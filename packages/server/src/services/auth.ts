/**
 * The `auth` core service: an Auth (newAuth on the server's store) behind `Auth.Generate`,
 * `Auth.Token` (login), `Auth.Inspect`, `Auth.Grant`, `Auth.Revoke`, `Auth.Rules`,
 * `Auth.Accounts`, `Auth.Delete` and `Auth.PublicKeys`. serviceAuth() in the core is its client.
 *
 * Also here: when auth turns on (shouldEnableAuth), the first-start bootstrap (an `admin`
 * account whose generated password is printed once, and rules exposing nothing but login),
 * the middleware guarding these endpoints, and the gateway's `authorize` hook.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  authServerMiddleware,
  bearerToken,
  errors,
  MicroError,
  verifyRules,
  type Account,
  type Auth,
  type AuthResource,
  type Credentials,
  type GenerateOptions,
  type NamespaceOptions,
  type Rule,
  type Runtime,
  type ServerMiddleware,
  type TokenOptions,
} from "@micro-ts/micro";
import type { Authorize, GatewayAccount, GatewayTarget } from "../gateway/options.js";

const ID = "micro.auth";

function obj<T extends object>(v: unknown): Partial<T> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Partial<T>) : {};
}

/** Only `namespace` passes from a request's options. */
function nsOf(v: unknown): NamespaceOptions {
  const ns = obj<NamespaceOptions>(v).namespace;
  return typeof ns === "string" ? { namespace: ns } : {};
}

export class AuthHandler {
  constructor(private readonly auth: Auth) {}

  async generate(req: { id?: string; options?: GenerateOptions }): Promise<{ account: Account & { secret?: string } }> {
    if (typeof req.id !== "string") throw errors.badRequest(ID, "id is required");
    const o = obj<GenerateOptions>(req.options);
    const opts: GenerateOptions = { ...nsOf(o) };
    if (o.scopes !== undefined) opts.scopes = o.scopes;
    if (o.metadata !== undefined) opts.metadata = o.metadata;
    if (o.type !== undefined) opts.type = o.type;
    if (o.secret !== undefined) opts.secret = o.secret;
    return { account: await this.auth.generate(req.id, opts) };
  }

  async token(req: { credentials?: Credentials; options?: TokenOptions }): Promise<{ token: Awaited<ReturnType<Auth["token"]>> }> {
    const c = obj<{ id: string; secret: string; namespace: string; refreshToken: string }>(req.credentials);
    const o = obj<TokenOptions>(req.options);
    const opts: TokenOptions = typeof o.expiry === "number" ? { expiry: o.expiry } : {};
    if (c.refreshToken !== undefined) return { token: await this.auth.token({ refreshToken: String(c.refreshToken) }, opts) };
    if (typeof c.id !== "string" || typeof c.secret !== "string") throw errors.badRequest(ID, "credentials need id and secret, or refreshToken");
    return { token: await this.auth.token({ id: c.id, secret: c.secret, ...nsOf(c) }, opts) };
  }

  async inspect(req: { token?: string; options?: NamespaceOptions }): Promise<{ account: Account }> {
    return { account: await this.auth.inspect(typeof req.token === "string" ? req.token : "", nsOf(req.options)) };
  }

  async grant(req: { rule?: Rule; options?: NamespaceOptions }): Promise<Record<string, never>> {
    await this.auth.grant(req.rule as Rule, nsOf(req.options));
    return {};
  }

  async revoke(req: { id?: string; options?: NamespaceOptions }): Promise<Record<string, never>> {
    if (typeof req.id !== "string") throw errors.badRequest(ID, "id is required");
    await this.auth.revoke(req.id, nsOf(req.options));
    return {};
  }

  async rules(req: { options?: NamespaceOptions }): Promise<{ rules: Rule[] }> {
    return { rules: await this.auth.rules(nsOf(req?.options)) };
  }

  async accounts(req: { options?: NamespaceOptions }): Promise<{ accounts: Account[] }> {
    return { accounts: await this.auth.accounts(nsOf(req?.options)) };
  }

  async delete(req: { id?: string; options?: NamespaceOptions }): Promise<Record<string, never>> {
    if (typeof req.id !== "string") throw errors.badRequest(ID, "id is required");
    await this.auth.deleteAccount(req.id, nsOf(req.options));
    return {};
  }

  async publicKeys(): Promise<Awaited<ReturnType<Auth["publicKeys"]>>> {
    return this.auth.publicKeys();
  }
}

/**
 * The rules a fresh namespace starts with: nothing is public but login (and the public keys,
 * public by nature, so services can verify tokens before they have one); any account may
 * inspect its own token, read the rules (services enforce them) and discover services
 * (Registry.GetService/ListServices/Watch); scope "service" (the accounts
 * the server gives the services it runs) reaches what services need: the registry, broker,
 * store, config and events; scope "admin" reaches everything.
 */
export const DEFAULT_RULES: readonly Rule[] = Object.freeze([
  { id: "default-admin", scope: "admin", resource: { type: "*", name: "*", endpoint: "*" }, access: "granted", priority: 0 },
  { id: "default-login", scope: "", resource: { type: "service", name: "auth", endpoint: "Auth.Token" }, access: "granted", priority: 0 },
  { id: "default-public-keys", scope: "", resource: { type: "service", name: "auth", endpoint: "Auth.PublicKeys" }, access: "granted", priority: 0 },
  { id: "default-inspect", scope: "*", resource: { type: "service", name: "auth", endpoint: "Auth.Inspect" }, access: "granted", priority: 0 },
  { id: "default-rules", scope: "*", resource: { type: "service", name: "auth", endpoint: "Auth.Rules" }, access: "granted", priority: 0 },
  // Any account may discover services (to call what other rules let it call).
  ...(["Registry.GetService", "Registry.ListServices", "Registry.Watch"] as const).map(
    (endpoint): Rule => ({ id: `default-discovery-${endpoint.slice(9).toLowerCase()}`, scope: "*", resource: { type: "service", name: "registry", endpoint }, access: "granted", priority: 0 }),
  ),
  ...(["registry", "broker", "store", "config", "events"] as const).map(
    (name): Rule => ({ id: `default-service-${name}`, scope: "service", resource: { type: "service", name, endpoint: "*" }, access: "granted", priority: 0 }),
  ),
] satisfies Rule[]);

export interface BootstrapOptions {
  /** @default "micro" */
  namespace?: string;
  /** Receives the admin's generated password, once. @default prints it to stdout (never to the log) */
  announce?: (id: string, password: string) => void;
}

/**
 * First start: creates the `admin` account (scope "admin") with a generated password, handed
 * to `announce` once, and the default rules when the namespace has none. Idempotent.
 * Resolves with whether the admin account was created now.
 */
export async function bootstrapAuth(auth: Auth, o: BootstrapOptions = {}): Promise<boolean> {
  const ns = o.namespace !== undefined ? { namespace: o.namespace } : {};
  if ((await auth.rules(ns)).length === 0) for (const r of DEFAULT_RULES) await auth.grant({ ...r, resource: { ...r.resource } }, ns);
  if ((await auth.accounts(ns)).some((a) => a.id === "admin")) return false;
  let created;
  try {
    created = await auth.generate("admin", { ...ns, scopes: ["admin"], type: "user", metadata: { created_by: "micro server" } });
  } catch (e) {
    if (e instanceof MicroError && e.code === 409) return false; // another server got there first
    throw e;
  }
  const announce =
    o.announce ??
    ((id: string, pw: string) =>
      process.stdout.write(`micro server: created account "${id}" with password ${pw}\n  (shown once: log in with \`micro login\` and keep it safe)\n`));
  announce(created.id, created.secret!);
  return true;
}

/** The resource a core-service endpoint is checked as: `Auth.Token` → `{ service, auth, Auth.Token }`. */
function coreResource(endpoint: string): AuthResource {
  const dot = endpoint.indexOf(".");
  return { type: "service", name: (dot > 0 ? endpoint.slice(0, dot) : endpoint).toLowerCase(), endpoint };
}

/** The handlers of the core services on the server's RPC listener (calls for others go to the proxy). */
const CORE_ENDPOINT = /^(registry|broker|store|config|events|runtime|auth)\./i;

/**
 * Guards every core-service endpoint (`Registry.*`, `Broker.*`, `Store.*`, `Config.*`,
 * `Events.*`, `Runtime.*`, `Auth.*`) on the server's RPC listener with the rules, each checked
 * as `{ service, <lowercased handler>, <endpoint> }`. Tokens are checked by `auth.inspect`
 * (in process, authoritative).
 */
export function coreAuthMiddleware(auth: Auth, o: { namespace?: string; rulesTTL?: number } = {}): ServerMiddleware {
  return authServerMiddleware({
    verifier: auth,
    rules: auth,
    namespace: o.namespace ?? "micro",
    rulesTTL: o.rulesTTL ?? 1000,
    applies: (req) => CORE_ENDPOINT.test(req.endpoint),
    resource: (req) => coreResource(req.endpoint),
  });
}

/**
 * The server's runtime with auth on: every service it creates gets a service account of its own
 * (id `svc-<name>-<random>`, type and scope "service", a generated secret), handed to the process
 * as MICRO_AUTH_ID / MICRO_AUTH_SECRET, and deleted when the service is (or fails to start).
 */
export function withServiceAccounts(runtime: Runtime, auth: Auth, o: NamespaceOptions = {}): Runtime {
  const ns = o.namespace !== undefined ? { namespace: o.namespace } : {};
  const owned = new Map<string, string>();
  const drop = async (id: string) => {
    try {
      await auth.deleteAccount(id, ns);
    } catch {
      // Already gone.
    }
  };
  return {
    async create(resource, opts) {
      const name = String(resource?.name ?? "").replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 200);
      const id = `svc-${name || "service"}-${randomBytes(6).toString("hex")}`;
      const account = await auth.generate(id, { ...ns, type: "service", scopes: ["service"], metadata: { created_by: "micro server", service: String(resource?.name ?? "") } });
      // The server's credentials win over any the resource brings.
      const env = { ...(resource.env ?? {}), MICRO_AUTH_ID: account.id, MICRO_AUTH_SECRET: account.secret ?? "" };
      try {
        await runtime.create({ ...resource, env }, opts);
      } catch (e) {
        await drop(id);
        throw e;
      }
      const old = owned.get(resource.name);
      owned.set(resource.name, id);
      if (old) await drop(old);
    },
    read: (r) => runtime.read(r),
    update: (n) => runtime.update(n),
    async delete(n) {
      await runtime.delete(n);
      const id = owned.get(n);
      owned.delete(n);
      if (id) await drop(id);
    },
    logs: (n, l) => runtime.logs(n, l),
    stop: () => runtime.stop(),
  };
}

/** The resource a gateway request is checked as. */
export function gatewayResource(t: GatewayTarget): AuthResource {
  if (t.kind === "call") return { type: "service", name: t.service, endpoint: t.endpoint };
  if (t.kind === "openapi") return { type: "gateway", name: "openapi", endpoint: "GET" };
  return { type: "topic", name: t.topic, endpoint: t.kind };
}

/**
 * The gateway's `authorize` hook: reads `Authorization: Bearer`, verifies the token with
 * `verifier.inspect` (the in-process Auth, or a localVerifier), checks `auth`'s rules for the
 * target (calls: `{ type: "service", name, endpoint }`; publish/consume: `{ type: "topic",
 * name: topic, endpoint: "publish" | "consume" }`; /openapi.json: `{ type: "gateway", name:
 * "openapi", endpoint: "GET" }`) and resolves with the account; rejects 401/403.
 */
export function gatewayAuthorize(opts: { auth: Pick<Auth, "verify">; verifier?: Pick<Auth, "inspect">; namespace?: string }): Authorize {
  const verifier = opts.verifier ?? (opts.auth as unknown as Pick<Auth, "inspect">);
  if (typeof verifier?.inspect !== "function") throw new TypeError("gatewayAuthorize: a verifier is required");
  const ns = opts.namespace !== undefined ? { namespace: opts.namespace } : {};
  return async (req: IncomingMessage, target: GatewayTarget): Promise<GatewayAccount | undefined> => {
    const header = req.headers.authorization;
    const token = bearerToken(typeof header === "string" ? header : undefined);
    const account = token === undefined ? undefined : await verifier.inspect(token, ns);
    await opts.auth.verify(account, gatewayResource(target), ns);
    return account ? { ...account } : undefined;
  };
}

/** A synchronous rule check over fixed rules, for callers holding their own cache. */
export function checkRules(rules: readonly Rule[], account: Account | undefined, resource: AuthResource, namespace = "micro"): void {
  verifyRules(rules, account, resource, namespace);
}

const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The host of `host:port`, `[v6]:port`, or a bare host. */
function hostOf(address: string): string {
  const a = address.trim();
  if (a.startsWith("[")) return a.slice(1, a.indexOf("]") > 0 ? a.indexOf("]") : undefined).toLowerCase();
  const colons = a.split(":").length - 1;
  if (colons === 1) return a.slice(0, a.lastIndexOf(":")).toLowerCase();
  return a.toLowerCase(); // bare host, or a bare IPv6 address
}

/** True when the address only accepts connections from this machine. Empty hosts and 0.0.0.0/:: mean every interface. */
export function isLoopback(address: string): boolean {
  const h = hostOf(address);
  return h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1" || LOOPBACK_V4.test(h) || h === "::ffff:127.0.0.1";
}

export interface AuthDecision {
  enabled: boolean;
  /** Set when auth is explicitly off although a listener is exposed: print it loudly. */
  warning?: string;
}

/**
 * Whether `micro server` runs with auth: `explicit` wins when given (off while exposed earns a
 * warning); otherwise on exactly when some listener is not on loopback.
 */
export function shouldEnableAuth(addresses: readonly (string | false | undefined)[], explicit?: boolean): AuthDecision {
  const exposed = addresses.filter((a): a is string => typeof a === "string" && a !== "").filter((a) => !isLoopback(a));
  if (explicit === true) return { enabled: true };
  if (explicit === false) {
    return exposed.length === 0
      ? { enabled: false }
      : {
          enabled: false,
          warning: `AUTH IS OFF while listening on ${exposed.join(", ")}: anyone who can reach ${exposed.length > 1 ? "these addresses" : "this address"} can call every service. Remove --auth=false (or bind 127.0.0.1) unless this network is trusted.`,
        };
  }
  return { enabled: exposed.length > 0 };
}
