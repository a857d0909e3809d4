/**
 * Enforcement: a server middleware that verifies `Authorization: Bearer` tokens locally and
 * checks the rules for every call, and a client middleware that signs outgoing calls with a
 * service account's token (refreshed before it expires).
 */
import type { ClientMiddleware } from "../client/client.js";
import { currentContext, type Context } from "../context/context.js";
import { MicroError } from "../errors/errors.js";
import type { ServerMiddleware, ServerRequest } from "../server/server.js";
import { DEFAULT_NAMESPACE, type Account, type Auth, type Resource, type Rule, type Token, type TokenVerifier } from "./auth.js";
import { bearerToken, TOKEN_ERRORS, tokenError } from "./jwt.js";
import { verifyRules } from "./rules.js";
import { localVerifier } from "./verifier.js";

/** Where rules come from: a fixed list, a function, or an Auth (whose rules are cached for `rulesTTL`). */
export type RulesSource = readonly Rule[] | (() => readonly Rule[] | Promise<readonly Rule[]>) | Pick<Auth, "rules">;

export interface AuthServerMiddlewareOptions {
  /** Checks tokens: `localVerifier(...)` (no round trip) or an Auth. */
  verifier: TokenVerifier;
  rules: RulesSource;
  /** The namespace the rules belong to ("*" rules need an account of it). @default "micro" */
  namespace?: string;
  /** How long rules read from an Auth are cached, in ms. @default 5000 */
  rulesTTL?: number;
  /** The resource a call is checked against. @default { type: "service", name: req.service, endpoint: req.endpoint } */
  resource?: (req: ServerRequest) => Resource;
  /** Only calls for which this returns true are checked. @default every call */
  applies?: (req: ServerRequest) => boolean;
}

const accounts = new WeakMap<Context, Account>();

/** The account the auth middleware established for a call's context, if any. */
export function accountOf(ctx: Context | undefined): Account | undefined {
  return ctx ? accounts.get(ctx) : undefined;
}

/** The account of the call being handled (from the current context), if any. */
export function currentAccount(): Account | undefined {
  return accountOf(currentContext());
}

/** Puts the account on the context: `ctx.account` for handlers, read-only once set. */
function setAccount(ctx: Context, account: Account): void {
  accounts.set(ctx, account);
  try {
    Object.defineProperty(ctx, "account", { value: account, enumerable: true, writable: false, configurable: false });
  } catch {
    // Already set by an outer auth middleware; accountOf() still answers.
  }
}

/** Turns a RulesSource into a getter, caching an Auth's rules. */
export function rulesGetter(src: RulesSource, ttl = 5000): () => Promise<readonly Rule[]> {
  if (Array.isArray(src)) {
    const fixed = src as readonly Rule[];
    return async () => fixed;
  }
  if (typeof src === "function") return async () => (src as () => readonly Rule[] | Promise<readonly Rule[]>)();
  const auth = src as Pick<Auth, "rules">;
  let cached: { at: number; rules: Promise<readonly Rule[]> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at >= ttl) {
      const c = { at: now, rules: auth.rules() as Promise<readonly Rule[]> };
      cached = c;
      c.rules.catch(() => {
        if (cached === c) cached = undefined;
      });
    }
    return cached.rules;
  };
}

/**
 * A ServerMiddleware that refuses calls the rules do not let through: 401 for a missing,
 * malformed or invalid token where the rules need an account, 403 when a rule denies. A token
 * that is present but invalid is refused even on a public endpoint. The account is put on the
 * context (`ctx.account`, `currentAccount()`).
 */
export function authServerMiddleware(opts: AuthServerMiddlewareOptions): ServerMiddleware {
  if (!opts || typeof opts.verifier?.inspect !== "function") throw new TypeError("authServerMiddleware: `verifier` is required");
  if (!opts.rules) throw new TypeError("authServerMiddleware: `rules` is required");
  const rules = rulesGetter(opts.rules, opts.rulesTTL);
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const resourceOf = opts.resource ?? ((req: ServerRequest): Resource => ({ type: "service", name: req.service, endpoint: req.endpoint }));
  return async (req, next) => {
    if (opts.applies && !opts.applies(req)) return next();
    const token = bearerToken(req.context.metadata["authorization"]);
    let account: Account | undefined;
    if (token !== undefined) {
      try {
        account = await opts.verifier.inspect(token);
      } catch (e) {
        // A verifier that fails oddly still refuses the call; only "unavailable" passes as is.
        if (e instanceof MicroError && (e.code === 401 || e.code >= 500)) throw e;
        throw tokenError(TOKEN_ERRORS.malformed, "token refused");
      }
    }
    verifyRules(await rules(), account, resourceOf(req), namespace);
    if (account) setAccount(req.context, account);
    return next();
  };
}

export interface AuthClientMiddlewareOptions {
  /** The token to send, e.g. `serviceToken(...)`. */
  token: () => Promise<string>;
  /**
   * Replace an Authorization header the call already carries (set by the caller, or inherited
   * from the call being handled). @default false: the caller's identity flows through, as in Micro
   */
  override?: boolean;
}

/** A ClientMiddleware that adds `authorization: Bearer <token>` to outgoing calls. */
export function authClientMiddleware(opts: AuthClientMiddlewareOptions): ClientMiddleware {
  if (!opts || typeof opts.token !== "function") throw new TypeError("authClientMiddleware: `token` is required");
  return async (req, next) => {
    const md = req.options.metadata ?? {};
    const has = Object.keys(md).some((k) => k.toLowerCase() === "authorization") || currentContext()?.metadata["authorization"] !== undefined;
    if (has && !opts.override) return next();
    const out: Record<string, string> = {};
    for (const k in md) if (k.toLowerCase() !== "authorization") out[k] = md[k]!;
    out["authorization"] = `Bearer ${await opts.token()}`;
    req.options.metadata = out;
    return next();
  };
}

export interface ServiceTokenOptions {
  /** Where to log in. */
  auth: Pick<Auth, "token">;
  credentials: { id: string; secret: string; namespace?: string };
  /** Refresh when less than this fraction of the token's lifetime is left. @default 0.25 */
  refreshAt?: number;
}

/**
 * A token source for a service account: logs in on first use, refreshes (single-use refresh
 * token, falling back to the credentials) before the access token expires. Concurrent callers
 * share one login.
 */
export function serviceToken(opts: ServiceTokenOptions): () => Promise<string> {
  const refreshAt = opts.refreshAt ?? 0.25;
  let current: Token | undefined;
  let pending: Promise<Token> | undefined;
  const renew = async (): Promise<Token> => {
    if (current) {
      try {
        return await opts.auth.token({ refreshToken: current.refreshToken });
      } catch {
        // Spent or expired refresh token: log in again.
      }
    }
    return opts.auth.token(opts.credentials);
  };
  return async () => {
    const now = Date.now();
    if (current && current.expiry - now > (current.expiry - current.created) * refreshAt) return current.accessToken;
    pending ??= renew().then(
      (t) => {
        current = t;
        pending = undefined;
        return t;
      },
      (e: unknown) => {
        pending = undefined;
        throw e;
      },
    );
    return (await pending).accessToken;
  };
}

/** ServiceOptions.auth: turns auth on for one service. */
export interface ServiceAuthOptions {
  /** An Auth (keys and rules fetched from it, tokens verified locally) or a TokenVerifier (then give `rules`). */
  auth: Auth | TokenVerifier;
  /** The service account: outgoing calls carry its token. */
  credentials?: { id: string; secret: string };
  /** @default the Auth's rules, cached for rulesTTL */
  rules?: RulesSource;
  /** @default "micro" */
  namespace?: string;
  /** @default 5000 */
  rulesTTL?: number;
}

function isAuth(a: Auth | TokenVerifier): a is Auth {
  const x = a as Partial<Auth>;
  return typeof x.publicKeys === "function" && typeof x.rules === "function" && typeof x.token === "function";
}

/** Installs the server and client middleware of `o` on a service (what `new Service({ auth })` does). */
export function installServiceAuth(target: { use(mw: ServerMiddleware): unknown; useClient(mw: ClientMiddleware): unknown }, o: ServiceAuthOptions): void {
  if (!o?.auth || typeof o.auth.inspect !== "function") throw new TypeError("ServiceOptions.auth: `auth` (an Auth or a TokenVerifier) is required");
  const full = isAuth(o.auth) ? o.auth : undefined;
  const namespace = o.namespace ?? DEFAULT_NAMESPACE;
  const rules = o.rules ?? full;
  if (!rules) throw new TypeError("ServiceOptions.auth: `rules` is required when `auth` is a TokenVerifier");
  const verifier = full ? localVerifier({ keys: () => full.publicKeys(), namespace }) : o.auth;
  target.use(authServerMiddleware({ verifier, rules, namespace, ...(o.rulesTTL !== undefined ? { rulesTTL: o.rulesTTL } : {}) }));
  if (o.credentials) {
    if (!full) throw new TypeError("ServiceOptions.auth: `credentials` need an Auth to log in with");
    target.useClient(authClientMiddleware({ token: serviceToken({ auth: full, credentials: { ...o.credentials, namespace } }) }));
  }
}
