import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign as edSign, type KeyObject } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MicroError } from "../errors/errors.js";
import type { ServerRequest } from "../server/server.js";
import type { KeySet } from "./auth.js";
import { signJwt, verifyJwt, bearerToken, MAX_TOKEN_BYTES, type AccessClaims } from "./jwt.js";
import { authServerMiddleware } from "./middleware.js";
import { localVerifier } from "./verifier.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const other = generateKeyPairSync("ed25519");
const KID = "k1";
const NOW = 1_700_000_000_000;
const sec = Math.floor(NOW / 1000);

function claims(over: Partial<AccessClaims> = {}): AccessClaims {
  return { iss: "micro", sub: "ada", iat: sec, nbf: sec, exp: sec + 900, jti: "j1", use: "access", type: "user", scopes: ["x"], metadata: {}, ...over };
}
const opts = (o: { now?: number; issuer?: string } = {}) => ({
  key: (kid: string) => (kid === KID ? publicKey : undefined),
  issuer: o.issuer ?? "micro",
  now: o.now ?? NOW,
});
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
/** A token with any header and payload, signed by `key` with Ed25519. */
function forge(header: unknown, payload: unknown, key: KeyObject = privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${edSign(null, Buffer.from(input), key).toString("base64url")}`;
}

function refused(fn: () => unknown, code?: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof MicroError, `not a MicroError: ${String(e)}`);
    assert.equal(e.code, 401);
    if (code) assert.ok(e.detail.startsWith(code), `${e.detail} should start with ${code}`);
    return;
  }
  assert.fail("token accepted");
}

describe("jwt", () => {
  const good = signJwt(claims(), { kid: KID, privateKey });

  it("accepts a well-formed, signed, current token", () => {
    const c = verifyJwt(good, opts());
    assert.equal(c.sub, "ada");
    assert.deepEqual(c.scopes, ["x"]);
  });

  it("refuses an expired token (beyond the leeway)", () => {
    refused(() => verifyJwt(good, opts({ now: NOW + 901_000 + 30_000 })), "token_expired");
    // within the leeway it still passes: the leeway is small, not zero
    assert.equal(verifyJwt(good, opts({ now: NOW + 910_000 })).sub, "ada");
  });

  it("refuses a token that is not valid yet", () => {
    const t = signJwt(claims({ nbf: sec + 3600, iat: sec }), { kid: KID, privateKey });
    refused(() => verifyJwt(t, opts()), "token_not_yet_valid");
    const future = signJwt(claims({ iat: sec + 3600, nbf: sec }), { kid: KID, privateKey });
    refused(() => verifyJwt(future, opts()), "token_not_yet_valid");
  });

  it("refuses a token signed by another key", () => {
    const t = signJwt(claims(), { kid: KID, privateKey: other.privateKey });
    refused(() => verifyJwt(t, opts()), "token_signature_invalid");
  });

  it("refuses a tampered payload", () => {
    const [h, , s] = good.split(".");
    const t = `${h}.${b64(claims({ scopes: ["admin"] }))}.${s}`;
    refused(() => verifyJwt(t, opts()), "token_signature_invalid");
  });

  it('refuses alg "none", with or without a signature', () => {
    refused(() => verifyJwt(`${b64({ alg: "none", kid: KID })}.${b64(claims())}.`, opts()));
    refused(() => verifyJwt(`${b64({ alg: "none", kid: KID })}.${b64(claims())}`, opts()));
    refused(() => verifyJwt(forge({ alg: "none", kid: KID }, claims()), opts()), "token_alg_unsupported");
    refused(() => verifyJwt(forge({ alg: "NONE", kid: KID }, claims()), opts()), "token_alg_unsupported");
  });

  it("refuses HS256 signed with the public key as the HMAC secret", () => {
    for (const secret of [
      publicKey.export({ format: "pem", type: "spki" }) as string,
      Buffer.from((publicKey.export({ format: "jwk" }) as { x: string }).x, "base64url"),
    ]) {
      const input = `${b64({ alg: "HS256", typ: "JWT", kid: KID })}.${b64(claims())}`;
      const t = `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
      refused(() => verifyJwt(t, opts()), "token_alg_unsupported");
    }
  });

  it("refuses a wrong issuer (another namespace)", () => {
    const t = signJwt(claims({ iss: "other" }), { kid: KID, privateKey });
    refused(() => verifyJwt(t, opts()), "token_issuer_invalid");
    assert.equal(verifyJwt(t, opts({ issuer: "other" })).iss, "other");
    refused(() => verifyJwt(good, opts({ issuer: "other" })), "token_issuer_invalid");
  });

  it("refuses an unknown kid", () => {
    refused(() => verifyJwt(signJwt(claims(), { kid: "nope", privateKey }), opts()), "token_kid_unknown");
    refused(() => verifyJwt(forge({ alg: "EdDSA" }, claims()), opts()), "token_kid_unknown");
  });

  it("refuses truncated and garbage tokens", () => {
    for (const t of [good.slice(0, -1), good.slice(0, good.length / 2), good.split(".").slice(0, 2).join("."), `${good}.x`, "a.b.c", "...", "", "Bearer x", "€.€.€", good.replace(/.$/, "="), `${good}=`]) {
      refused(() => verifyJwt(t, opts()));
    }
    refused(() => verifyJwt(undefined, opts()), "token_missing");
    refused(() => verifyJwt(42, opts()), "token_missing");
  });

  it("refuses oversized tokens before decoding them", () => {
    refused(() => verifyJwt("a".repeat(MAX_TOKEN_BYTES + 1), opts()), "token_too_large");
    const big = signJwt(claims({ metadata: { pad: "x".repeat(MAX_TOKEN_BYTES) } }), { kid: KID, privateKey });
    refused(() => verifyJwt(big, opts()), "token_too_large");
  });

  it("refuses JSON that is not an object, and missing or invalid claims", () => {
    refused(() => verifyJwt(forge({ alg: "EdDSA", kid: KID }, [1, 2]), opts()), "token_malformed");
    refused(() => verifyJwt(forge({ alg: "EdDSA", kid: KID }, "str"), opts()), "token_malformed");
    refused(() => verifyJwt(forge([], claims()), opts()), "token_malformed");
    for (const bad of [{ exp: undefined }, { exp: "9999999999" }, { nbf: undefined }, { iat: 1.5 }, { use: "refresh" }, { sub: "" }, { scopes: "admin" }, { type: "root" }]) {
      const c = { ...claims(), ...bad } as Record<string, unknown>;
      refused(() => verifyJwt(forge({ alg: "EdDSA", kid: KID }, c), opts()));
    }
    refused(() => verifyJwt(forge({ alg: "EdDSA", kid: KID, crit: ["exp"] }, claims()), opts()), "token_malformed");
  });

  it("parses Bearer headers strictly", () => {
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken("Bearer abc"), "abc");
    refused(() => bearerToken("Basic abc"));
    refused(() => bearerToken("Bearer a b"));
    refused(() => bearerToken(`Bearer ${"a".repeat(MAX_TOKEN_BYTES + 100)}`), "token_too_large");
  });
});

describe("jwt property: malformed tokens", () => {
  const keys: KeySet = { keys: [{ kty: "OKP", crv: "Ed25519", x: (publicKey.export({ format: "jwk" }) as { x: string }).x, kid: KID, alg: "EdDSA", use: "sig" }] };
  const good = signJwt(claims({ exp: Math.floor(Date.now() / 1000) + 900, iat: Math.floor(Date.now() / 1000), nbf: Math.floor(Date.now() / 1000) }), { kid: KID, privateKey });
  const parts = good.split(".");
  const jsonish = fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.constant("{}"), fc.constant('{"alg":"EdDSA","kid":"k1"}'));
  const seg = fc.oneof(
    fc.string(),
    fc.base64String(),
    jsonish.map((j) => b64(j)),
    fc.constantFrom(...parts),
    fc.uint8Array({ maxLength: 96 }).map((u) => Buffer.from(u).toString("base64url")),
  );
  const token = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.fullUnicodeString({ maxLength: 100 }),
    fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => s.join(".")),
    fc.tuple(fc.nat(good.length - 1), fc.char()).map(([i, c]) => good.slice(0, i) + c + good.slice(i + 1)).filter((t) => t !== good),
    fc.nat(good.length - 1).map((i) => good.slice(0, i)),
    fc.tuple(jsonish, jsonish).map(([h, p]) => forge(safeParse(h), safeParse(p))),
  ).filter((t) => t !== good);
  function safeParse(s: string): unknown {
    try {
      return JSON.parse(s);
    } catch {
      return s;
    }
  }

  it("answers 10,000 malformed tokens with a 401 MicroError, never another exception", () => {
    fc.assert(
      fc.property(token, (t) => {
        try {
          verifyJwt(t, opts({ now: Date.now() }));
        } catch (e) {
          return e instanceof MicroError && e.code === 401;
        }
        return false; // nothing here is a valid token
      }),
      { numRuns: 10_000 },
    );
  });

  it("the server middleware answers 10,000 malformed Authorization headers with 401", async () => {
    const verifier = localVerifier({ keys });
    const mw = authServerMiddleware({ verifier, rules: [{ id: "all", scope: "*", resource: { type: "*", name: "*", endpoint: "*" }, access: "granted", priority: 0 }] });
    let reached = 0;
    const req = (h: string): ServerRequest => ({
      service: "greeter",
      endpoint: "Greeter.Hello",
      body: {},
      stream: false,
      context: { metadata: { authorization: h }, signal: new AbortController().signal },
    });
    const header = fc.oneof(token.map((t) => `Bearer ${t}`), fc.string(), token);
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        try {
          await mw(req(h), async () => ++reached);
        } catch (e) {
          return e instanceof MicroError && e.code === 401;
        }
        return false;
      }),
      { numRuns: 10_000 },
    );
    assert.equal(reached, 0);
    // and a valid token still goes through
    await mw(req(`Bearer ${good}`), async () => ++reached);
    assert.equal(reached, 1);
  });
});
