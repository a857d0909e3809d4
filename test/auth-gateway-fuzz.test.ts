// Fuzz of the gateway with auth on: a real `micro server --auth` in this process, a greeter
// registered through it, one account whose token is granted exactly Greeter.Hello. Over raw
// sockets, ≥ 10,000 malformed tokens and requests (garbage Authorization headers; truncated,
// forged, `alg: none`, HS256 and foreign-key JWTs, expired and not-yet-valid ones; huge headers,
// hostile paths, bad bodies) with bounded concurrency, interleaved with valid calls: every
// malformed answer is a 4xx, every valid call a 200, no uncaught exception, and the gateway
// still answers at the end.
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { errors, Service, silentLogger, tcpTransport } from "@micro-ts/micro";
import { startServer, type RunningServer } from "@micro-ts/server";
import { isObjectJson, rawRequest, sendRaw } from "./fixtures/raw-http.js";

const SEED = Number(process.env["FUZZ_SEED"] ?? 5151);
const PER_KIND = Number(process.env["FUZZ_PER_KIND"] ?? 1200);
const CONCURRENCY = 32;
const VALID_EVERY = 25;

class Greeter {
  async hello(req: unknown): Promise<{ msg: string }> {
    const name = typeof req === "object" && req !== null ? (req as { name?: unknown }).name : undefined;
    if (typeof name !== "string" || name === "") throw errors.badRequest("greeter.hello", "name is required");
    return { msg: `Hello ${name}` };
  }
  async ping(): Promise<{ pong: true }> {
    return { pong: true };
  }
  async secret(): Promise<{ ok: true }> {
    return { ok: true };
  }
}

interface Case {
  kind: string;
  data: Buffer;
  /** The status this case must get; otherwise any 4xx. */
  expect?: number;
}

const send = (port: number, c: Case, ms = 10_000) => sendRaw(port, c, ms);
const request = rawRequest;

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** Claims shaped like the server's, for ada. */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  return { iss: "micro", sub: "ada", iat: t, nbf: t, exp: t + 900, jti: randomUUID(), use: "access", type: "user", scopes: ["greeter.user"], metadata: {}, ...over };
}

function ed25519Jwt(key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

describe("gateway with auth on: fuzz", () => {
  const dir = mkdtempSync(join(tmpdir(), "micro-auth-fuzz-"));
  let server: RunningServer;
  let greeter: Service;
  let port = 0;
  let base = "";
  let token = "";
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  /** A keep-alive HTTP call: status and parsed body. */
  const call = (path: string, body: unknown, tok?: string) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const r = httpRequest(
        `${base}${path}`,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": String(data.length), ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      r.on("error", reject);
      r.end(data);
    });

  before(async () => {
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    server = await startServer({
      dataDir: dir,
      address: "127.0.0.1:0",
      gatewayAddress: "127.0.0.1:0",
      dashboard: false,
      auth: true,
      logger: silentLogger(),
      announceAdmin: () => {},
    });
    assert.equal(server.authEnabled, true);
    port = Number(server.gatewayAddress.split(":").pop());
    base = `http://${server.gatewayAddress}`;
    await server.auth.generate("ada", { secret: "ada-password-1", scopes: ["greeter.user"] });
    await server.auth.grant({ id: "greeter-hello", scope: "greeter.user", resource: { type: "service", name: "greeter", endpoint: "Greeter.Hello" }, access: "granted", priority: 0 });
    await server.auth.grant({ id: "greeter-ping-public", scope: "", resource: { type: "service", name: "greeter", endpoint: "Greeter.Ping" }, access: "granted", priority: 0 });
    token = (await server.auth.token({ id: "ada", secret: "ada-password-1" })).accessToken;
    // the greeter registers in the server's own registry (the one its gateway routes by)
    greeter = new Service({ name: "greeter", registry: server.registry, transport: tcpTransport(), logger: silentLogger() }).handle(new Greeter());
    await greeter.start();
    // the gateway sees the greeter once its registration landed
    for (let i = 0; ; i++) {
      const r = await call("/greeter/hello", { name: "Ada" }, token);
      if (r.status === 200) break;
      if (i > 100) assert.fail(`the greeter never became reachable: ${r.status} ${JSON.stringify(r.body)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    agent.destroy();
    await greeter?.stop();
    await server?.stop();
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
    rmSync(dir, { recursive: true, force: true });
  });

  function cases(): Case[] {
    const [h, , s] = token.split(".") as [string, string, string];
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>;
    const kid = String(header["kid"]);
    const foreign = generateKeyPairSync("ed25519").privateKey;
    const out: Case[] = [];
    const add = (kind: string, arb: fc.Arbitrary<Buffer>, n = PER_KIND) => fc.sample(arb, { numRuns: n, seed: SEED + out.length }).forEach((data) => out.push({ kind, data }));
    const hello = (auth: string, body = '{"name":"Ada"}') => request("POST", "/greeter/hello", body, { authorization: auth });
    const bearer = (t: string) => hello(`Bearer ${t}`);

    // Authorization headers that carry no usable token
    add(
      "garbage-header",
      fc
        .oneof(
          fc.string({ maxLength: 200 }),
          fc.stringMatching(/^[A-Za-z0-9_.-]{1,300}$/),
          fc.constantFrom("Bearer", "Bearer ", "bearer\t", "Basic YWRhOmFkYQ==", "Token abc", "Bearer a b", "Bearer ...", "Bearer ..", "Bearer a.b.c", "Bearer null", "Bearer undefined", "Bearer {}", `Bearer ${token}x`, `Bearer x${token}`, `Basic ${token}`, `Bearer ${token}.${s}`, `Bearer ${token} ${token}`),
          fc.string({ maxLength: 200 }).map((x) => `Bearer ${x}`),
        )
        .map((x) => x.replace(/[\r\n]/g, " "))
        .filter((x) => x.trim() !== `Bearer ${token}`)
        .map((x) => hello(x)),
    );
    // real token cut short, or bytes changed in header, payload or signature
    add(
      "truncated-jwt",
      fc.integer({ min: 0, max: token.length - 1 }).map((n) => bearer(token.slice(0, n) || "x")),
    );
    add(
      "mutated-jwt",
      fc
        .tuple(fc.integer({ min: 0, max: token.length - 3 }), fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
        .filter(([i, ch]) => token[i] !== "." && token[i] !== ch)
        .map(([i, ch]) => bearer(token.slice(0, i) + ch + token.slice(i + 1))),
    );
    add(
      "forged-claims",
      fc
        .record({
          sub: fc.constantFrom("ada", "admin", "root", "", "x".repeat(600)),
          scopes: fc.constantFrom(["*"], ["admin"], ["greeter.user"], [], ["greeter.user", "admin"]),
          type: fc.constantFrom("user", "service", "admin"),
          iss: fc.constantFrom("micro", "other", ""),
        })
        .map((over) => bearer(`${h}.${b64(claims(over))}.${s}`)),
    );
    // alg: none and HS256 (keyed with the public key's JWK or anything else)
    add(
      "alg-none",
      fc
        .tuple(fc.constantFrom("none", "None", "NONE", "nOnE", ""), fc.constantFrom("", s, "AAAA"), fc.boolean())
        .map(([alg, sig, withKid]) => bearer(`${b64({ alg, typ: "JWT", ...(withKid ? { kid } : {}) })}.${b64(claims({ scopes: ["*"] }))}.${sig}`)),
      300,
    );
    add(
      "hs256",
      fc.tuple(fc.string({ maxLength: 64 }), fc.constantFrom("HS256", "HS384", "HS512", "RS256", "ES256", "PS256")).map(([secret, alg]) => {
        const input = `${b64({ alg, typ: "JWT", kid })}.${b64(claims())}`;
        const key = secret === "" ? JSON.stringify(header) : secret;
        return bearer(`${input}.${createHmac("sha256", key).update(input).digest("base64url")}`);
      }),
      400,
    );
    // well-formed EdDSA tokens signed with another Ed25519 key: right kid, unknown kid, expired, not yet valid, wrong issuer
    add(
      "foreign-key",
      fc
        .record({
          kid: fc.constantFrom(kid, "k1", "", "x".repeat(200), randomUUID()),
          when: fc.constantFrom("valid", "expired", "future", "exp-before-nbf"),
          iss: fc.constantFrom("micro", "other", "micro "),
          use: fc.constantFrom("access", "refresh"),
        })
        .map(({ kid: k, when, iss, use }) => {
          const t = now();
          const times =
            when === "expired" ? { iat: t - 7200, nbf: t - 7200, exp: t - 3600 } : when === "future" ? { iat: t + 3600, nbf: t + 3600, exp: t + 7200 } : when === "exp-before-nbf" ? { nbf: t, exp: t - 1 } : {};
          return bearer(ed25519Jwt(foreign, { alg: "EdDSA", typ: "JWT", kid: k }, claims({ iss, use, ...times })));
        }),
      600,
    );
    add(
      "junk-segments",
      fc
        .tuple(fc.oneof(fc.json(), fc.string({ maxLength: 50 })), fc.oneof(fc.json(), fc.string({ maxLength: 50 })), fc.string({ maxLength: 100 }))
        .map(([a, b, c]) => bearer(`${b64(a)}.${b64(b)}.${Buffer.from(c).toString("base64url")}`)),
    );
    add("huge-token", fc.integer({ min: 4_000, max: 15_000 }).map((n) => bearer(`${h}.${"A".repeat(n)}.${s}`)), 200);
    add("too-large-header", fc.integer({ min: 17_000, max: 60_000 }).map((n) => bearer("A".repeat(n))), 100);
    // with no token, and with the valid token: bad paths and bad bodies
    const withAuth = fc.constantFrom<Record<string, string>>({}, { authorization: `Bearer ${token}` }, { authorization: "Bearer x.y.z" });
    const segment = fc.oneof(
      fc.constantFrom("greeter", "hello", "secret", "admin", "auth", "registry", "store", "rpc", "v1", "..", "%2e%2e", "%00", "%zz", "%", "a%2Fb", "\\", "%c0%ae", "%ff", "*", "<x>", "Greeter.Secret", "Auth.Generate"),
      fc.stringMatching(/^[a-z0-9%.-]{1,12}$/),
    );
    add(
      "bad-path",
      fc
        .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.constantFrom("GET", "POST", "PUT", "DELETE"), withAuth)
        .map(([segs, m, auth]) => ["/" + segs.join("/"), m, auth] as const)
        .filter(([path]) => !/^\/greeter\/(hello|ping)$/i.test(path))
        .map(([path, m, auth]) => request(m, path, '{"name":"Ada"}', auth)),
    );
    add(
      "bad-body",
      fc
        .tuple(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 1024 }).map((b) => Buffer.from(b)),
            fc.tuple(fc.json(), fc.nat(), fc.constantFrom("", "}", "{", ",", "\u0000", "'", "]")).map(([j, cut, junk]) => Buffer.from(j.slice(0, cut % (j.length + 1)) + junk)),
            fc.constantFrom("{}", '{"name":1}', '{"name":""}', '{"name":null}', "null", "[]", '"x"', "1").map((x) => Buffer.from(x)),
          ),
          withAuth,
        )
        .filter(([b]) => !isObjectJson(b) || !/"name"\s*:\s*"[^"]/.test(b.toString()))
        .map(([b, auth]) => request("POST", "/greeter/hello", b, auth)),
    );
    add("oversized-body", fc.tuple(fc.integer({ min: 2 * 1024 * 1024, max: 1 << 30 }), withAuth).map(([n, auth]) => request("POST", "/greeter/hello", "", { "content-length": String(n), ...auth })), 100);
    add("huge-other-header", fc.tuple(fc.integer({ min: 1_000, max: 60_000 }), withAuth).map(([n, auth]) => request("POST", "/greeter/secret", '{"name":"a"}', { "x-big": "a".repeat(n), ...auth })), 100);
    // the valid token where no rule grants it
    add("not-granted", fc.constantFrom("secret", "Secret", "SECRET").map((e) => request("POST", `/greeter/${e}`, "{}", { authorization: `Bearer ${token}` })), 100);

    // interleave valid calls with the valid token
    const mixed: Case[] = [];
    fc.sample(fc.shuffledSubarray(out, { minLength: out.length, maxLength: out.length }), { numRuns: 1, seed: SEED })[0]!.forEach((c, i) => {
      if (i % VALID_EVERY === 0) mixed.push({ kind: "valid", expect: 200, data: request("POST", "/greeter/hello", `{"name":"n${i}"}`, { authorization: `Bearer ${token}` }) });
      mixed.push(c);
    });
    return mixed;
  }

  it("answers ≥ 10,000 malformed tokens and requests with a 4xx while valid calls keep succeeding", async () => {
    const all = cases();
    const malformed = all.filter((c) => c.expect === undefined).length;
    assert.ok(malformed >= 10_000, `${malformed} malformed cases`);
    let stop = false;
    let valid = 0;
    const validLoop = (async () => {
      while (!stop) {
        const r = await call("/greeter/hello", { name: "Ada" }, token);
        assert.equal(r.status, 200, `a valid call failed during the fuzz: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body, { msg: "Hello Ada" });
        valid++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const statuses = new Map<string, Map<number, number>>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const c = all[next++]!;
        const status = await send(port, c);
        const m = statuses.get(c.kind) ?? new Map<number, number>();
        m.set(status, (m.get(status) ?? 0) + 1);
        statuses.set(c.kind, m);
        const ok = c.expect !== undefined ? status === c.expect : status >= 400 && status <= 499;
        if (!ok && bad.length < 20) bad.push(`${c.kind} → ${status}: ${JSON.stringify(c.data.subarray(0, 200).toString("latin1"))}`);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      stop = true;
      await validLoop;
    }
    const summary = Object.fromEntries([...statuses].map(([k, m]) => [k, Object.fromEntries(m)]));
    assert.deepEqual(bad, [], JSON.stringify(summary));
    assert.ok(valid > 20, `only ${valid} valid calls went through`);
    assert.ok(statuses.get("valid")!.get(200)! > 300, JSON.stringify(summary));
    // the protections answered, not only the parser: 401s for bad tokens, 403 where no rule grants
    assert.ok((statuses.get("foreign-key")!.get(401) ?? 0) > 0 && (statuses.get("alg-none")!.get(401) ?? 0) > 0, JSON.stringify(summary));
    assert.equal(statuses.get("not-granted")!.get(403), 100, JSON.stringify(summary));
    // no crash: nothing escaped, and the gateway still answers
    assert.deepEqual(uncaught, []);
    const end = await call("/greeter/hello", { name: "End" }, token);
    assert.deepEqual(end, { status: 200, body: { msg: "Hello End" } });
  });

  it("serves a public endpoint without a token", async () => {
    assert.deepEqual(await call("/greeter/ping", {}), { status: 200, body: { pong: true } });
    assert.equal((await call("/greeter/hello", { name: "Ada" })).status, 401);
  });

  it("refuses the valid token with 403 once a rule denies it", async () => {
    assert.equal((await call("/greeter/hello", { name: "Ada" }, token)).status, 200);
    await server.auth.grant({ id: "no-hello", scope: "greeter.user", resource: { type: "service", name: "greeter", endpoint: "Greeter.Hello" }, access: "denied", priority: 10 });
    const r = await call("/greeter/hello", { name: "Ada" }, token);
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.deepEqual(uncaught, []);
  });
});
