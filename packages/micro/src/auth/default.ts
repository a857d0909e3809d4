/**
 * The default Auth: accounts, refresh tokens, rules and signing keys in a Store; access tokens
 * are Ed25519 JWTs verified with the keys in memory. `noopAuth()` lets everything through.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { badRequest, conflict, MicroError, serviceUnavailable, tooManyRequests, unauthorized } from "../errors/errors.js";
import type { JSONValue, Store } from "../store/store.js";
import {
  ACCOUNT_TYPES,
  AUTH_ERROR_ID,
  DEFAULT_NAMESPACE,
  type Account,
  type Auth,
  type Credentials,
  type GeneratedAccount,
  type GenerateOptions,
  type KeySet,
  type NamespaceOptions,
  type Resource,
  type Rule,
  type Token,
  type TokenOptions,
} from "./auth.js";
import { accountFromClaims, DEFAULT_LEEWAY, signJwt, verifyJwt, type AccessClaims } from "./jwt.js";
import { KeyRing } from "./keys.js";
import { validateRule, verifyRules } from "./rules.js";
import { DEFAULT_HASH_COST, hashSecret, randomSecret, verifySecret, type SecretHash } from "./secret.js";

export interface AuthOptions {
  /** Where accounts, rules, refresh tokens and signing keys live. Closed by its owner, not by the Auth. */
  store: Store;
  /** The namespace (token issuer) this Auth serves by default. @default "micro" */
  namespace?: string;
  /** Access token lifetime, in ms. @default 900000 (15 min) */
  accessTTL?: number;
  /** Longest access token lifetime `token(..., { expiry })` may ask for, in ms. @default 86400000 (24 h) */
  maxAccessTTL?: number;
  /** Refresh token lifetime, in ms. @default 604800000 (7 days) */
  refreshTTL?: number;
  /** Failed logins allowed per account per window before 429. @default { failures: 5, window: 60000 } */
  loginLimit?: { failures: number; window: number };
  /** How long rules are cached for verify(), in ms; grant/revoke here clear the cache. @default 1000 */
  rulesCacheTTL?: number;
  /** The store table. @default "auth" */
  table?: string;
  /** The store database. @default the store's */
  database?: string;
  /** scrypt's N. @default 16384 */
  hashCost?: number;
  /** Clock skew tolerated when verifying, in seconds. @default 30 */
  leeway?: number;
}

export const AUTH_DEFAULTS = Object.freeze({
  namespace: DEFAULT_NAMESPACE,
  accessTTL: 15 * 60_000,
  maxAccessTTL: 24 * 3_600_000,
  refreshTTL: 7 * 24 * 3_600_000,
  loginLimit: Object.freeze({ failures: 5, window: 60_000 }),
  rulesCacheTTL: 1000,
  table: "auth",
  hashCost: DEFAULT_HASH_COST,
  leeway: DEFAULT_LEEWAY,
});

/** An Auth that can also rotate its signing keys. */
export interface DefaultAuth extends Auth {
  /** A new key signs from now on; tokens signed by the old one stay valid until they expire. Resolves with the new kid. */
  rotateKeys(): Promise<string>;
  readonly namespace: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,255}$/;
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const REFRESH = /^[A-Za-z0-9_-]{43}$/;
const MAX_CLAIMS_BYTES = 4096;

interface AccountRecord {
  id: string;
  type: Account["type"];
  scopes: string[];
  metadata: Record<string, string>;
  issuer: string;
  created: number;
  secret: SecretHash;
}

interface RefreshRecord {
  id: string;
  namespace: string;
  used: boolean;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new TypeError(`newAuth: \`${name}\` must be a positive number`);
  return v;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const toAccount = (r: AccountRecord): Account => ({ id: r.id, type: r.type, scopes: [...r.scopes], metadata: { ...r.metadata }, issuer: r.issuer });

class StoreAuth implements DefaultAuth {
  readonly namespace: string;
  private readonly o: Required<Omit<AuthOptions, "database">> & { database?: string };
  private readonly scope: { table: string; database?: string };
  private readonly ring: KeyRing;
  private ready: Promise<void> | undefined;
  private closed = false;
  private readonly failures = new Map<string, number[]>();
  private readonly ruleCache = new Map<string, { at: number; rules: Promise<Rule[]> }>();

  constructor(opts: AuthOptions) {
    if (!opts?.store || typeof opts.store.read !== "function") throw new TypeError("newAuth: `store` is required");
    const o = { ...AUTH_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as StoreAuth["o"];
    for (const k of ["accessTTL", "maxAccessTTL", "refreshTTL", "rulesCacheTTL", "hashCost"] as const) positive(k, o[k] || (k === "rulesCacheTTL" ? 1 : o[k]));
    if (!NAMESPACE.test(o.namespace)) throw new TypeError("newAuth: invalid `namespace`");
    positive("loginLimit.failures", o.loginLimit.failures);
    positive("loginLimit.window", o.loginLimit.window);
    this.o = o;
    this.namespace = o.namespace;
    this.scope = { table: o.table, ...(o.database ? { database: o.database } : {}) };
    this.ring = new KeyRing({ store: o.store, scope: this.scope, keepRetired: Math.max(o.maxAccessTTL, o.accessTTL) + o.leeway * 1000 });
  }

  /** Loads (or makes) the keys on first use: nothing happens at construction. */
  private init(): Promise<void> {
    if (this.closed) return Promise.reject(serviceUnavailable(AUTH_ERROR_ID, "auth is closed"));
    this.ready ??= this.ring.init().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private ns(o: NamespaceOptions | undefined): string {
    const ns = o?.namespace ?? this.namespace;
    if (typeof ns !== "string" || !NAMESPACE.test(ns)) throw badRequest(AUTH_ERROR_ID, "invalid namespace");
    return ns;
  }

  private async readAccount(ns: string, id: string): Promise<AccountRecord | undefined> {
    if (typeof id !== "string" || !ID.test(id)) return undefined;
    try {
      const [rec] = await this.o.store.read(`account/${ns}/${id}`, this.scope);
      return rec?.value as unknown as AccountRecord | undefined;
    } catch (e) {
      if (e instanceof MicroError && e.code === 404) return undefined;
      throw e;
    }
  }

  async generate(id: string, o: GenerateOptions = {}): Promise<GeneratedAccount> {
    await this.init();
    const ns = this.ns(o);
    if (typeof id !== "string" || !ID.test(id)) throw badRequest(AUTH_ERROR_ID, "invalid account id: 1-256 characters of [A-Za-z0-9._@+-]");
    const type = o.type ?? "user";
    if (!(ACCOUNT_TYPES as readonly string[]).includes(type)) throw badRequest(AUTH_ERROR_ID, 'type must be "user" or "service"');
    const scopes = o.scopes ?? [];
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string" && s.length > 0 && s.length <= 256 && s !== "*" && s !== "+")) {
      throw badRequest(AUTH_ERROR_ID, "scopes must be non-empty strings other than * and +");
    }
    const metadata = o.metadata ?? {};
    if (typeof metadata !== "object" || metadata === null || !Object.values(metadata).every((v) => typeof v === "string")) {
      throw badRequest(AUTH_ERROR_ID, "metadata values must be strings");
    }
    if (JSON.stringify({ scopes, metadata }).length > MAX_CLAIMS_BYTES) throw badRequest(AUTH_ERROR_ID, `scopes and metadata over ${MAX_CLAIMS_BYTES} bytes`);
    const made = o.secret === undefined ? randomSecret() : undefined;
    const secret = o.secret ?? made!;
    if (typeof secret !== "string" || secret.length < 8 || secret.length > 1024) throw badRequest(AUTH_ERROR_ID, "a secret has 8 to 1024 characters");
    const rec: AccountRecord = { id, type, scopes: [...scopes], metadata: { ...metadata }, issuer: ns, created: Date.now(), secret: await hashSecret(secret, this.o.hashCost) };
    try {
      await this.o.store.write({ key: `account/${ns}/${id}`, value: rec as unknown as JSONValue }, { ...this.scope, ifNotExists: true });
    } catch (e) {
      if (e instanceof MicroError && e.code === 409) throw conflict(AUTH_ERROR_ID, `account ${id} exists in namespace ${ns}`);
      throw e;
    }
    this.failures.delete(`${ns}/${id}`);
    return made === undefined ? toAccount(rec) : { ...toAccount(rec), secret: made };
  }

  async token(c: Credentials, o: TokenOptions = {}): Promise<Token> {
    await this.init();
    if (typeof c !== "object" || c === null) throw badRequest(AUTH_ERROR_ID, "credentials are required");
    const ttl = o.expiry ?? this.o.accessTTL;
    if (!Number.isFinite(ttl) || ttl < 1000) throw badRequest(AUTH_ERROR_ID, "expiry must be at least 1000 ms");
    const account = "refreshToken" in c ? await this.spendRefresh(c.refreshToken) : await this.login(c);
    return this.issue(account, Math.min(ttl, this.o.maxAccessTTL));
  }

  private async login(c: { id: string; secret: string; namespace?: string }): Promise<AccountRecord> {
    const ns = this.ns(c);
    const refused = () => unauthorized(AUTH_ERROR_ID, "invalid credentials");
    if (typeof c.id !== "string" || typeof c.secret !== "string" || c.secret.length > 1024) throw refused();
    const key = `${ns}/${c.id.slice(0, 300)}`;
    const now = Date.now();
    const recent = (this.failures.get(key) ?? []).filter((t) => now - t < this.o.loginLimit.window);
    if (recent.length >= this.o.loginLimit.failures) throw tooManyRequests(AUTH_ERROR_ID, "too many failed logins; try again later");
    const rec = await this.readAccount(ns, c.id);
    // Hash even for an unknown account, so timing does not tell which ids exist.
    const ok = rec ? await verifySecret(c.secret, rec.secret) : (await verifySecret(c.secret, { ...DUMMY, N: this.o.hashCost }), false);
    if (!ok || !rec) {
      this.recordFailure(key, recent, now);
      throw refused();
    }
    this.failures.delete(key);
    return rec;
  }

  private recordFailure(key: string, recent: number[], now: number): void {
    this.failures.delete(key);
    this.failures.set(key, [...recent, now]);
    // Bounded: a flood of ids must not grow memory without end; the oldest entries go first.
    while (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  private async spendRefresh(token: unknown): Promise<AccountRecord> {
    const refused = (why: string) => unauthorized(AUTH_ERROR_ID, `invalid refresh token: ${why}`);
    if (typeof token !== "string" || !REFRESH.test(token)) throw refused("malformed");
    const key = `refresh/${sha256(token)}`;
    let rec;
    try {
      [rec] = await this.o.store.read(key, this.scope);
    } catch (e) {
      if (e instanceof MicroError && e.code === 404) throw refused("unknown or expired");
      throw e;
    }
    const r = rec!.value as unknown as RefreshRecord;
    if (r.used) throw refused("already used");
    try {
      // Compare-and-set: of two concurrent uses, exactly one wins.
      await this.o.store.write(
        { key, value: { ...r, used: true }, ...(rec!.expiry ? { expiry: rec!.expiry } : {}) },
        { ...this.scope, ifVersion: rec!.version! },
      );
    } catch (e) {
      if (e instanceof MicroError && e.code === 409) throw refused("already used");
      throw e;
    }
    const acc = await this.readAccount(r.namespace, r.id);
    if (!acc) throw refused("the account no longer exists");
    return acc;
  }

  private async issue(rec: AccountRecord, ttl: number): Promise<Token> {
    const now = Date.now();
    const iat = Math.floor(now / 1000);
    const exp = Math.floor((now + ttl) / 1000);
    const claims: AccessClaims = {
      iss: rec.issuer, sub: rec.id, iat, nbf: iat, exp, jti: randomUUID(),
      use: "access", type: rec.type, scopes: rec.scopes, metadata: rec.metadata,
    };
    const refreshToken = randomBytes(32).toString("base64url");
    const value: RefreshRecord = { id: rec.id, namespace: rec.issuer, used: false };
    await this.o.store.write({ key: `refresh/${sha256(refreshToken)}`, value: { ...value }, expiry: this.o.refreshTTL }, this.scope);
    return { accessToken: signJwt(claims, this.ring.signing()), refreshToken, created: now, expiry: exp * 1000 };
  }

  /** Verifies signature and claims against the keys in memory; reloads them once for an unknown kid. */
  private async claims(accessToken: string, ns: string): Promise<AccessClaims> {
    const verify = () => verifyJwt(accessToken, { key: (kid) => this.ring.publicKey(kid), issuer: ns, leeway: this.o.leeway });
    try {
      return verify();
    } catch (e) {
      const kid = unknownKid(e, accessToken);
      if (kid === undefined) throw e;
      await this.ring.reloadForUnknown(kid);
      return verify();
    }
  }

  async inspect(accessToken: string, o?: NamespaceOptions): Promise<Account> {
    await this.init();
    const ns = this.ns(o);
    const c = await this.claims(accessToken, ns);
    if (!(await this.readAccount(ns, c.sub))) throw unauthorized(AUTH_ERROR_ID, "token_account_deleted: the account no longer exists");
    return accountFromClaims(c);
  }

  async grant(rule: Rule, o?: NamespaceOptions): Promise<void> {
    await this.init();
    const ns = this.ns(o);
    const r = validateRule(rule);
    await this.o.store.write({ key: `rule/${ns}/${r.id}`, value: r as unknown as JSONValue }, this.scope);
    this.ruleCache.delete(ns);
  }

  async revoke(ruleId: string, o?: NamespaceOptions): Promise<void> {
    await this.init();
    const ns = this.ns(o);
    if (typeof ruleId !== "string" || ruleId.length === 0 || ruleId.length > 256) throw badRequest(AUTH_ERROR_ID, "invalid rule id");
    await this.o.store.delete(`rule/${ns}/${ruleId}`, this.scope);
    this.ruleCache.delete(ns);
  }

  async rules(o?: NamespaceOptions): Promise<Rule[]> {
    await this.init();
    const ns = this.ns(o);
    const recs = await this.o.store.read(`rule/${ns}/`, { ...this.scope, prefix: true });
    return recs.map((r) => r.value as unknown as Rule);
  }

  async verify(account: Account | undefined, resource: Resource, o?: NamespaceOptions): Promise<void> {
    const ns = this.ns(o);
    const now = Date.now();
    let c = this.ruleCache.get(ns);
    if (!c || now - c.at >= this.o.rulesCacheTTL) {
      c = { at: now, rules: this.rules({ namespace: ns }) };
      this.ruleCache.set(ns, c);
      c.rules.catch(() => this.ruleCache.delete(ns));
    }
    verifyRules(await c.rules, account, resource, ns);
  }

  async accounts(o?: NamespaceOptions): Promise<Account[]> {
    await this.init();
    const ns = this.ns(o);
    const recs = await this.o.store.read(`account/${ns}/`, { ...this.scope, prefix: true });
    return recs.map((r) => toAccount(r.value as unknown as AccountRecord));
  }

  async deleteAccount(id: string, o?: NamespaceOptions): Promise<void> {
    await this.init();
    const ns = this.ns(o);
    if (typeof id !== "string" || !ID.test(id)) throw badRequest(AUTH_ERROR_ID, "invalid account id");
    await this.o.store.delete(`account/${ns}/${id}`, this.scope);
  }

  async publicKeys(): Promise<KeySet> {
    await this.init();
    return { keys: this.ring.publicKeys() };
  }

  async rotateKeys(): Promise<string> {
    await this.init();
    return this.ring.rotate();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ruleCache.clear();
  }
}

/** A hash nobody's secret matches, to spend the same time on unknown accounts. */
const DUMMY: SecretHash = { alg: "scrypt", N: DEFAULT_HASH_COST, r: 8, p: 1, salt: "AAAAAAAAAAAAAAAAAAAAAA", hash: "A".repeat(43) };

function unknownKid(e: unknown, token: string): string | undefined {
  if (!(e instanceof MicroError) || !e.detail.startsWith("token_kid_unknown")) return undefined;
  try {
    const kid = (JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { kid?: unknown }).kid;
    return typeof kid === "string" ? kid : undefined;
  } catch {
    return undefined;
  }
}

/** The default Auth on a Store. Keys are loaded (or generated) on first use. */
export function newAuth(opts: AuthOptions): DefaultAuth {
  return new StoreAuth(opts);
}

/** An Auth for local development: every token is accepted, every rule check passes. */
export function noopAuth(opts: { namespace?: string } = {}): Auth {
  const issuer = opts.namespace ?? DEFAULT_NAMESPACE;
  const anyone: Account = { id: "anonymous", type: "user", scopes: [], metadata: {}, issuer };
  return {
    generate: async (id, o = {}) => ({ id, type: o.type ?? "user", scopes: o.scopes ?? [], metadata: o.metadata ?? {}, issuer: o.namespace ?? issuer }),
    token: async () => ({ accessToken: "noop", refreshToken: "noop", created: Date.now(), expiry: Date.now() + AUTH_DEFAULTS.accessTTL }),
    inspect: async () => ({ ...anyone }),
    grant: async () => {},
    revoke: async () => {},
    rules: async () => [],
    verify: async () => {},
    accounts: async () => [],
    deleteAccount: async () => {},
    publicKeys: async () => ({ keys: [] }),
    close: async () => {},
  };
}
