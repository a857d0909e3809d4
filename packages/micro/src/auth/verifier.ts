/**
 * Local token verification: services check access tokens against the auth's public keys
 * in memory, with no round trip per call. Keys are fetched once, refreshed periodically, and
 * re-fetched (rate-limited) when a token names a key not seen yet (a rotation elsewhere).
 */
import type { KeyObject } from "node:crypto";
import { DEFAULT_NAMESPACE, type Account, type KeySet, type NamespaceOptions, type TokenVerifier } from "./auth.js";
import { accountFromClaims, DEFAULT_LEEWAY, importPublicKey, TOKEN_ERRORS, tokenError, verifyJwt } from "./jwt.js";

export interface LocalVerifierOptions {
  /** Where the public keys come from: `() => auth.publicKeys()`, or a fixed set. */
  keys: KeySet | (() => Promise<KeySet>);
  /** The namespaces whose tokens are accepted. @default "micro" */
  namespace?: string | string[];
  /** How often keys are re-fetched, in ms. @default 300000 */
  refreshInterval?: number;
  /** Least time between two fetches caused by unknown kids, in ms. @default 5000 */
  minRefetch?: number;
  /** Clock skew tolerated, in seconds. @default 30 */
  leeway?: number;
}

export interface LocalVerifier extends TokenVerifier {
  /** Verifies without the store: the account is read from the token's claims. 401 for any bad token. */
  inspect(accessToken: string, o?: NamespaceOptions): Promise<Account>;
  /** Fetches the keys now. */
  refresh(): Promise<void>;
}

const MAX_VERIFIED = 10_000;

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

export function localVerifier(opts: LocalVerifierOptions): LocalVerifier {
  if (!opts || (typeof opts.keys !== "function" && !Array.isArray(opts.keys?.keys))) throw new TypeError("localVerifier: `keys` is required");
  const namespaces = typeof opts.namespace === "string" ? [opts.namespace] : (opts.namespace ?? [DEFAULT_NAMESPACE]);
  const refreshInterval = opts.refreshInterval ?? 300_000;
  const minRefetch = opts.minRefetch ?? 5000;
  let keys = new Map<string, KeyObject>();
  let fetchedAt = 0;
  let fetching: Promise<void> | undefined;

  const install = (set: KeySet) => {
    const next = new Map<string, KeyObject>();
    for (const jwk of Array.isArray(set?.keys) ? set.keys : []) {
      const k = importPublicKey(jwk);
      if (k && typeof jwk.kid === "string") next.set(jwk.kid, k);
    }
    keys = next;
  };
  const refresh = (): Promise<void> => {
    if (typeof opts.keys !== "function") {
      install(opts.keys);
      fetchedAt = Date.now();
      return Promise.resolve();
    }
    const source = opts.keys;
    fetching ??= (async () => {
      try {
        install(await source());
        fetchedAt = Date.now();
      } finally {
        fetching = undefined;
      }
    })();
    return fetching;
  };
  // Tokens already verified, until they expire: a signature check costs ~130 µs, a lookup ~0.
  // Bounded; only successes are kept (a forged token is checked every time).
  const verified = new Map<string, { account: Account; until: number }>();
  const verify = (token: string, ns: string[]): Account => {
    const key = ns.length === 1 ? ns[0] + "\0" + token : ns.join(",") + "\0" + token;
    const hit = verified.get(key);
    if (hit && hit.until > Date.now()) return hit.account;
    const claims = verifyJwt(token, { key: (kid) => keys.get(kid), issuer: ns, leeway: opts.leeway ?? DEFAULT_LEEWAY });
    const account = deepFreeze(accountFromClaims(claims));
    if (verified.size >= MAX_VERIFIED) verified.clear();
    verified.set(key, { account, until: claims.exp * 1000 });
    return account;
  };

  return {
    refresh,
    async inspect(token: string, o?: NamespaceOptions): Promise<Account> {
      const ns = o?.namespace !== undefined ? [o.namespace] : namespaces;
      const age = Date.now() - fetchedAt;
      if (fetchedAt === 0 || age > refreshInterval) {
        try {
          await refresh();
        } catch {
          // Keys unreachable: keep the ones we have; with none, the check below refuses.
        }
      }
      try {
        return verify(token, ns);
      } catch (e) {
        const unknownKid = e instanceof Error && "detail" in e && String((e as { detail: unknown }).detail).startsWith(TOKEN_ERRORS.kid);
        if (!unknownKid || Date.now() - fetchedAt < minRefetch) throw e;
        try {
          await refresh();
        } catch {
          throw tokenError(TOKEN_ERRORS.kid, "unknown signing key (keys unavailable)");
        }
        return verify(token, ns);
      }
    },
  };
}
