/**
 * Micro's auth domain: accounts, tokens and rules (go-micro's `auth.Auth`).
 *
 * - An **account** is a user or a service, identified by `id` within a **namespace** (its
 *   `issuer`, default "micro"), holding scopes. Its secret is stored hashed, never in plain.
 * - A **token** pair comes from logging in (`token({ id, secret })`): a short-lived access token
 *   (a JWT signed with Ed25519) and a single-use refresh token that `token({ refreshToken })`
 *   exchanges for a new pair.
 * - **Rules** decide who reaches what: see `verifyRules` in rules.ts for the exact semantics.
 *
 * Every failure is a MicroError: 401 for "who are you?" (missing, malformed, expired, forged
 * or foreign tokens, wrong secrets), 403 for "not you" (a rule denies), 429 for too many failed
 * logins, 409 for a duplicate account.
 */

/** The error id carried by auth errors. */
export const AUTH_ERROR_ID = "micro.auth";

/** The namespace used when none is given. */
export const DEFAULT_NAMESPACE = "micro";

export const ACCOUNT_TYPES = ["user", "service"] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export interface Account {
  /** Unique within its namespace, e.g. "admin" or "greeter". */
  id: string;
  type: AccountType;
  /** What the account may do, as rules see it, e.g. ["admin"]. */
  scopes: string[];
  /** Free-form string metadata (name, email, ...). Never holds the secret. */
  metadata: Record<string, string>;
  /** The namespace that issued the account. */
  issuer: string;
}

/** An account as `generate` returns it: `secret` is set only when generate made one up (shown once). */
export type GeneratedAccount = Account & { secret?: string };

export interface Token {
  /** A JWT (compact JWS, EdDSA) to send as `Authorization: Bearer <accessToken>`. */
  accessToken: string;
  /** Opaque and single-use: exchange it with `token({ refreshToken })` for a new pair. */
  refreshToken: string;
  /** When the pair was issued, ms since the epoch. */
  created: number;
  /** When the access token expires, ms since the epoch. */
  expiry: number;
}

/** What a rule guards: a service endpoint (`{ type: "service", name: "greeter", endpoint: "Greeter.Hello" }`). */
export interface Resource {
  type: string;
  name: string;
  endpoint: string;
}

export const ACCESS = ["granted", "denied"] as const;
export type Access = (typeof ACCESS)[number];

export interface Rule {
  /** Unique within its namespace; granting a rule with an existing id replaces it. */
  id: string;
  /** "" public (even without an account), "*" any account of the namespace, "+" any account of any namespace, else a scope. */
  scope: string;
  /** Each field matches exactly, by "*", or by a prefix wildcard such as "greeter.*" (endpoints case-insensitively). */
  resource: Resource;
  access: Access;
  /** Higher first; at equal priority "denied" comes before "granted". */
  priority: number;
}

export interface GenerateOptions {
  /** @default [] */
  scopes?: string[];
  /** @default {} */
  metadata?: Record<string, string>;
  /** @default "user" */
  type?: AccountType;
  /** The account's secret (password); when absent one is generated and returned once. */
  secret?: string;
  /** @default the Auth's namespace */
  namespace?: string;
}

/** How to log in: an account's credentials, or a refresh token from an earlier login. */
export type Credentials = { id: string; secret: string; namespace?: string } | { refreshToken: string };

export interface TokenOptions {
  /** Lifetime of the access token, in ms. @default the Auth's accessTTL; capped at its maxAccessTTL */
  expiry?: number;
}

/** Per-call namespace choice for the rule and account methods. */
export interface NamespaceOptions {
  /** @default the Auth's namespace */
  namespace?: string;
}

/** An Ed25519 public key in JWK form (RFC 8037). */
export interface PublicKey {
  kty: "OKP";
  crv: "Ed25519";
  /** The raw 32-byte public key, base64url. */
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

/** The keys tokens may be signed with (JWKS shape). The first one signs new tokens. */
export interface KeySet {
  keys: PublicKey[];
}

/** Anything that can turn an access token into an account: an Auth, or a local verifier. */
export interface TokenVerifier {
  /** Resolves with the token's account; rejects with a 401 MicroError for any bad token. */
  inspect(accessToken: string, o?: NamespaceOptions): Promise<Account>;
}

export interface Auth extends TokenVerifier {
  /**
   * Creates an account. Rejects with 409 when the id exists in the namespace, 400 for an invalid
   * id, scope or secret. The secret is stored as a salted scrypt hash.
   */
  generate(id: string, o?: GenerateOptions): Promise<GeneratedAccount>;
  /**
   * Logs in. With `{ id, secret }`: rejects with 401 for an unknown account or a wrong secret
   * (the same answer for both), 429 after too many failures. With `{ refreshToken }`: the
   * refresh token is spent (a second use is refused with 401) and a new pair is returned.
   */
  token(c: Credentials, o?: TokenOptions): Promise<Token>;
  /**
   * Verifies an access token (signature, expiry, issuer = the namespace) and that its account
   * still exists; rejects with 401 otherwise.
   */
  inspect(accessToken: string, o?: NamespaceOptions): Promise<Account>;
  /** Adds or replaces a rule. 400 when it is malformed. */
  grant(rule: Rule, o?: NamespaceOptions): Promise<void>;
  /** Removes a rule; removing a missing rule resolves (idempotent). */
  revoke(ruleId: string, o?: NamespaceOptions): Promise<void>;
  /** The rules of the namespace, sorted by id. */
  rules(o?: NamespaceOptions): Promise<Rule[]>;
  /**
   * Resolves when the rules let `account` (undefined: anonymous) reach `resource`; rejects with
   * 401 when no account is given and no public rule lets it through, 403 otherwise.
   */
  verify(account: Account | undefined, resource: Resource, o?: NamespaceOptions): Promise<void>;
  /** The accounts of the namespace, sorted by id (no secrets). */
  accounts(o?: NamespaceOptions): Promise<Account[]>;
  /** Deletes an account: its refresh tokens stop working, `inspect` refuses its tokens. Idempotent. */
  deleteAccount(id: string, o?: NamespaceOptions): Promise<void>;
  /** The public keys for local verification (see `localVerifier`). */
  publicKeys(): Promise<KeySet>;
  /** Releases resources; the store is the caller's to close. Idempotent. */
  close(): Promise<void>;
}
