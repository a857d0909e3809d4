/**
 * JWTs (compact JWS) signed with Ed25519, on node:crypto alone. The parser is strict and
 * bounded: a size limit before anything is decoded, canonical base64url only, exactly three
 * segments, JSON objects only, `alg` must be "EdDSA" (so `none` and HS256-with-the-public-key
 * are refused before any key is touched), and registered claims checked with a small leeway.
 * Every failure is a 401 MicroError whose detail starts with a stable code (`token_expired: ...`);
 * nothing else is ever thrown.
 */
import { createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { MicroError } from "../errors/errors.js";
import { ACCOUNT_TYPES, AUTH_ERROR_ID, type Account, type AccountType } from "./auth.js";

/** The stable codes a token can be refused with (the start of the 401's detail). */
export const TOKEN_ERRORS = {
  missing: "token_missing",
  tooLarge: "token_too_large",
  malformed: "token_malformed",
  alg: "token_alg_unsupported",
  kid: "token_kid_unknown",
  signature: "token_signature_invalid",
  expired: "token_expired",
  notYetValid: "token_not_yet_valid",
  issuer: "token_issuer_invalid",
  claims: "token_claims_invalid",
} as const;
export type TokenErrorCode = (typeof TOKEN_ERRORS)[keyof typeof TOKEN_ERRORS];

/** Largest token accepted, in bytes. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Clock skew tolerated on exp/nbf/iat, in seconds. */
export const DEFAULT_LEEWAY = 30;

const MAX_SCOPES = 256;
const MAX_STRING = 256;
const MAX_METADATA = 64;

export function tokenError(code: TokenErrorCode, detail: string): MicroError {
  return new MicroError(AUTH_ERROR_ID, `${code}: ${detail}`, 401);
}

/** The claims of an access token. Times are seconds since the epoch (RFC 7519). */
export interface AccessClaims {
  iss: string;
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  /** Always "access": nothing else is accepted as an access token. */
  use: "access";
  type: AccountType;
  scopes: string[];
  metadata: Record<string, string>;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

/** Signs claims as a compact JWS with `{ alg: "EdDSA", typ: "JWT", kid }`. */
export function signJwt(claims: AccessClaims, key: SigningKey): string {
  const header = b64json({ alg: "EdDSA", typ: "JWT", kid: key.kid });
  const payload = b64json(claims);
  const input = `${header}.${payload}`;
  const sig = edSign(null, Buffer.from(input), key.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}

export interface VerifyJwtOptions {
  /** The public key for a `kid`, or undefined when unknown. */
  key: (kid: string) => KeyObject | undefined;
  /** Accepted issuers (namespaces). */
  issuer: string | readonly string[];
  /** Now, in ms. @default Date.now() */
  now?: number;
  /** @default DEFAULT_LEEWAY (seconds) */
  leeway?: number;
  /** @default MAX_TOKEN_BYTES */
  maxBytes?: number;
}

/** The parts of a token that passed the structural checks, before the signature is checked. */
interface Parsed {
  kid: string;
  input: string;
  sig: Buffer;
  claims: Record<string, unknown>;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

/** Canonical base64url only: a segment must re-encode to itself (no padding, no stray bits). */
function segment(s: string, what: string): Buffer {
  if (!B64URL.test(s) || s.length % 4 === 1) throw tokenError(TOKEN_ERRORS.malformed, `${what} is not base64url`);
  const b = Buffer.from(s, "base64url");
  if (b.toString("base64url") !== s) throw tokenError(TOKEN_ERRORS.malformed, `${what} is not canonical base64url`);
  return b;
}

function jsonObject(b: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(b.toString("utf8"));
  } catch {
    throw tokenError(TOKEN_ERRORS.malformed, `${what} is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw tokenError(TOKEN_ERRORS.malformed, `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function parse(token: unknown, maxBytes: number): Parsed {
  if (typeof token !== "string" || token.length === 0) throw tokenError(TOKEN_ERRORS.missing, "no token");
  // Checked on the string length first: no byte counting or decoding of a huge input.
  if (token.length > maxBytes) throw tokenError(TOKEN_ERRORS.tooLarge, `token over ${maxBytes} bytes`);
  const parts = token.split(".");
  if (parts.length !== 3) throw tokenError(TOKEN_ERRORS.malformed, "a token has three segments");
  const [h, p, s] = parts as [string, string, string];
  const header = jsonObject(segment(h, "header"), "header");
  if (header["alg"] !== "EdDSA") throw tokenError(TOKEN_ERRORS.alg, "only EdDSA tokens are accepted");
  if (header["crit"] !== undefined) throw tokenError(TOKEN_ERRORS.malformed, "critical header parameters are not supported");
  if (header["typ"] !== undefined && header["typ"] !== "JWT") throw tokenError(TOKEN_ERRORS.malformed, "typ must be JWT");
  const kid = header["kid"];
  if (typeof kid !== "string" || kid.length === 0 || kid.length > 128) throw tokenError(TOKEN_ERRORS.kid, "kid missing or invalid");
  const claims = jsonObject(segment(p, "payload"), "payload");
  const sig = segment(s, "signature");
  if (sig.length !== 64) throw tokenError(TOKEN_ERRORS.signature, "an Ed25519 signature is 64 bytes");
  return { kid, input: `${h}.${p}`, sig, claims };
}

function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isShortString(v: unknown, min = 1): v is string {
  return typeof v === "string" && v.length >= min && v.length <= MAX_STRING;
}

function checkClaims(c: Record<string, unknown>, o: VerifyJwtOptions): AccessClaims {
  const leeway = o.leeway ?? DEFAULT_LEEWAY;
  const now = Math.floor((o.now ?? Date.now()) / 1000);
  const { iss, sub, iat, nbf, exp, jti, use, type, scopes, metadata } = c;
  if (!isTime(exp) || !isTime(nbf) || !isTime(iat)) throw tokenError(TOKEN_ERRORS.claims, "exp, nbf and iat must be integer times");
  if (exp + leeway <= now) throw tokenError(TOKEN_ERRORS.expired, "the token has expired");
  if (nbf - leeway > now || iat - leeway > now) throw tokenError(TOKEN_ERRORS.notYetValid, "the token is not valid yet");
  if (exp < nbf) throw tokenError(TOKEN_ERRORS.claims, "exp before nbf");
  const issuers = typeof o.issuer === "string" ? [o.issuer] : o.issuer;
  if (typeof iss !== "string" || !issuers.includes(iss)) throw tokenError(TOKEN_ERRORS.issuer, "the token was issued for another namespace");
  if (use !== "access") throw tokenError(TOKEN_ERRORS.claims, "not an access token");
  if (!isShortString(sub) || !isShortString(jti)) throw tokenError(TOKEN_ERRORS.claims, "sub and jti are required");
  if (typeof type !== "string" || !(ACCOUNT_TYPES as readonly string[]).includes(type)) throw tokenError(TOKEN_ERRORS.claims, "invalid account type");
  if (!Array.isArray(scopes) || scopes.length > MAX_SCOPES || !scopes.every((x) => isShortString(x))) {
    throw tokenError(TOKEN_ERRORS.claims, "invalid scopes");
  }
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) throw tokenError(TOKEN_ERRORS.claims, "invalid metadata");
  const md: Record<string, string> = {};
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA) throw tokenError(TOKEN_ERRORS.claims, "too much metadata");
  for (const [k, v] of entries) {
    if (typeof v !== "string") throw tokenError(TOKEN_ERRORS.claims, "metadata values are strings");
    md[k] = v;
  }
  return { iss, sub, iat, nbf, exp, jti, use, type: type as AccountType, scopes: [...(scopes as string[])], metadata: md };
}

/**
 * Verifies a compact JWS access token and returns its claims. Throws only 401 MicroErrors
 * (detail `<code>: <why>`, code from TOKEN_ERRORS). Structure and `alg` are checked before
 * the key is looked up, the signature before any claim is trusted.
 */
export function verifyJwt(token: unknown, o: VerifyJwtOptions): AccessClaims {
  try {
    const p = parse(token, o.maxBytes ?? MAX_TOKEN_BYTES);
    const key = o.key(p.kid);
    if (!key) throw tokenError(TOKEN_ERRORS.kid, "unknown signing key");
    let ok = false;
    try {
      ok = edVerify(null, Buffer.from(p.input), key, p.sig);
    } catch {
      ok = false;
    }
    if (!ok) throw tokenError(TOKEN_ERRORS.signature, "bad signature");
    return checkClaims(p.claims, o);
  } catch (e) {
    if (e instanceof MicroError && e.code === 401) throw e;
    // Defence in depth: whatever slipped through is still a refusal, never a crash.
    throw tokenError(TOKEN_ERRORS.malformed, "unreadable token");
  }
}

/** The account an access token speaks for. */
export function accountFromClaims(c: AccessClaims): Account {
  return { id: c.sub, type: c.type, scopes: c.scopes, metadata: c.metadata, issuer: c.iss };
}

/** Imports a JWK Ed25519 public key; undefined when it is not one. */
export function importPublicKey(jwk: unknown): KeyObject | undefined {
  if (typeof jwk !== "object" || jwk === null) return undefined;
  const k = jwk as Record<string, unknown>;
  if (k["kty"] !== "OKP" || k["crv"] !== "Ed25519" || typeof k["x"] !== "string") return undefined;
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: k["x"] }, format: "jwk" });
    return key.asymmetricKeyType === "ed25519" ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Extracts the token of an `Authorization: Bearer <token>` header; undefined when there is none; 401 when malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header === "") return undefined;
  if (header.length > MAX_TOKEN_BYTES + 16) throw tokenError(TOKEN_ERRORS.tooLarge, `token over ${MAX_TOKEN_BYTES} bytes`);
  const m = /^Bearer ([^\s]+)$/i.exec(header);
  if (!m) throw tokenError(TOKEN_ERRORS.malformed, "expected Authorization: Bearer <token>");
  return m[1]!;
}
