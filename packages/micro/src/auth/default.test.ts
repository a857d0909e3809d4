import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { MicroError } from "../errors/errors.js";
import { memoryStore } from "../store/memory.js";
import type { Store } from "../store/store.js";
import { newAuth, noopAuth, type AuthOptions } from "./default.js";
import { localVerifier } from "./verifier.js";

const FAST = { hashCost: 1024 } as const;
const make = (o: Partial<AuthOptions> = {}) => {
  const store = o.store ?? memoryStore();
  return { store, auth: newAuth({ ...FAST, ...o, store }) };
};

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    assert.ok(e instanceof MicroError, `not a MicroError: ${String(e)}`);
    return e.code;
  }
}

/** Every record of every table, as text. */
async function dump(store: Store): Promise<string> {
  let out = "";
  for (const database of await store.databases()) {
    for (const table of await store.tables(database)) {
      for (const r of await store.read("", { database, table, prefix: true })) out += `${r.key} ${JSON.stringify(r.value)} ${JSON.stringify(r.metadata ?? {})}\n`;
    }
  }
  return out;
}

describe("newAuth", () => {
  it("creates an account, logs in, and inspects the token", async () => {
    const { auth } = make();
    const acc = await auth.generate("ada", { secret: "correct horse", scopes: ["greeter"], metadata: { name: "Ada" } });
    assert.deepEqual(acc, { id: "ada", type: "user", scopes: ["greeter"], metadata: { name: "Ada" }, issuer: "micro" });
    const t = await auth.token({ id: "ada", secret: "correct horse" });
    assert.ok(t.expiry > Date.now() + 14 * 60_000 && t.expiry <= Date.now() + 15 * 60_000 + 1000);
    assert.deepEqual(await auth.inspect(t.accessToken), acc);
    assert.equal(await code(auth.inspect(t.refreshToken)), 401, "a refresh token is not an access token");
    assert.equal(await code(auth.generate("ada", { secret: "another one" })), 409);
  });

  it("stores secrets only as salted scrypt hashes: no secret or token appears in the store", async () => {
    const { auth, store } = make();
    const secrets = ["correct horse battery", "correct horse battery"];
    await auth.generate("a1", { secret: secrets[0]! });
    await auth.generate("a2", { secret: secrets[1]! });
    const gen = await auth.generate("a3");
    assert.ok(gen.secret && gen.secret.length >= 24, "a generated secret is returned once");
    const t = await auth.token({ id: "a3", secret: gen.secret });
    const text = await dump(store);
    for (const s of [secrets[0]!, gen.secret, t.refreshToken, Buffer.from(gen.secret).toString("base64"), Buffer.from(secrets[0]!).toString("base64url")]) {
      assert.ok(!text.includes(s), `plain secret found in the store`);
    }
    assert.match(text, /"alg":"scrypt"/);
    const salts = [...text.matchAll(/"salt":"([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(salts).size, salts.length, "each hash has its own salt");
    const hashes = [...text.matchAll(/"hash":"([^"]+)"/g)].map((m) => m[1]);
    assert.notEqual(hashes[0], hashes[1], "same secret, different hashes");
    assert.ok(!(await auth.accounts()).some((a) => JSON.stringify(a).includes("scrypt")), "accounts() carry no hash");
  });

  it("refuses a wrong secret and an unknown account alike", async () => {
    const { auth } = make();
    await auth.generate("ada", { secret: "correct horse" });
    const wrong = await auth.token({ id: "ada", secret: "wrong horse" }).catch((e: MicroError) => e);
    const unknown = await auth.token({ id: "bob", secret: "wrong horse" }).catch((e: MicroError) => e);
    assert.ok(wrong instanceof MicroError && unknown instanceof MicroError);
    assert.equal(wrong.code, 401);
    assert.equal(unknown.code, 401);
    assert.equal(wrong.detail, unknown.detail);
    assert.ok(!wrong.detail.includes("wrong horse"), "the secret is not echoed");
  });

  it("limits failed logins per account: the sixth attempt in a minute gets 429, even with the right secret", async () => {
    const { auth } = make({ loginLimit: { failures: 5, window: 60_000 } });
    await auth.generate("ada", { secret: "correct horse" });
    await auth.generate("bob", { secret: "correct horse" });
    for (let i = 0; i < 5; i++) assert.equal(await code(auth.token({ id: "ada", secret: `guess-${i}-xx` })), 401);
    assert.equal(await code(auth.token({ id: "ada", secret: "guess-again" })), 429);
    assert.equal(await code(auth.token({ id: "ada", secret: "correct horse" })), 429);
    assert.equal(await code(auth.token({ id: "bob", secret: "correct horse" })), 0, "other accounts are not affected");
  });

  it("lets logins through again once the window has passed", async () => {
    const { auth } = make({ loginLimit: { failures: 2, window: 200 } });
    await auth.generate("ada", { secret: "correct horse" });
    for (let i = 0; i < 2; i++) await code(auth.token({ id: "ada", secret: "nope-nope" }));
    assert.equal(await code(auth.token({ id: "ada", secret: "correct horse" })), 429);
    await sleep(250);
    assert.equal(await code(auth.token({ id: "ada", secret: "correct horse" })), 0);
  });

  it("rotates refresh tokens: each one works once", async () => {
    const { auth } = make();
    await auth.generate("ada", { secret: "correct horse" });
    const t1 = await auth.token({ id: "ada", secret: "correct horse" });
    const t2 = await auth.token({ refreshToken: t1.refreshToken });
    assert.notEqual(t2.refreshToken, t1.refreshToken);
    assert.equal((await auth.inspect(t2.accessToken)).id, "ada");
    assert.equal(await code(auth.token({ refreshToken: t1.refreshToken })), 401, "a spent refresh token is refused");
    // concurrent use of one refresh token: exactly one wins
    const results = await Promise.all([1, 2, 3].map(() => code(auth.token({ refreshToken: t2.refreshToken }))));
    assert.deepEqual(results.sort(), [0, 401, 401]);
    assert.equal(await code(auth.token({ refreshToken: "x".repeat(43) })), 401);
    assert.equal(await code(auth.token({ refreshToken: "garbage" })), 401);
  });

  it("refuses tokens of a deleted account", async () => {
    const { auth } = make();
    await auth.generate("ada", { secret: "correct horse" });
    const t = await auth.token({ id: "ada", secret: "correct horse" });
    await auth.deleteAccount("ada");
    await auth.deleteAccount("ada");
    assert.equal(await code(auth.inspect(t.accessToken)), 401);
    assert.equal(await code(auth.token({ refreshToken: t.refreshToken })), 401);
  });

  it("persists its signing key: a new instance on the same store accepts old tokens", async () => {
    const { auth, store } = make();
    await auth.generate("ada", { secret: "correct horse" });
    const t = await auth.token({ id: "ada", secret: "correct horse" });
    const again = newAuth({ ...FAST, store });
    assert.deepEqual(await again.publicKeys(), await auth.publicKeys());
    assert.equal((await again.inspect(t.accessToken)).id, "ada");
    const fresh = newAuth({ ...FAST, store: memoryStore() });
    await fresh.generate("ada", { secret: "correct horse" });
    assert.equal(await code(fresh.inspect(t.accessToken)), 401, "another auth's token is refused");
  });

  it("rotates keys: old tokens stay valid until their key retires, new tokens use the new key", async () => {
    const { auth } = make({ accessTTL: 1000, maxAccessTTL: 1000, leeway: 0 });
    await auth.generate("ada", { secret: "correct horse" });
    const old = await auth.token({ id: "ada", secret: "correct horse" });
    const before = (await auth.publicKeys()).keys.map((k) => k.kid);
    const kid = await auth.rotateKeys();
    const keys = (await auth.publicKeys()).keys.map((k) => k.kid);
    assert.equal(keys[0], kid, "the new key signs");
    assert.ok(keys.includes(before[0]!), "the old key is still published");
    assert.equal((await auth.inspect(old.accessToken)).id, "ada");
    const verifier = localVerifier({ keys: () => auth.publicKeys() });
    assert.equal((await verifier.inspect(old.accessToken)).id, "ada");
    const neu = await auth.token({ id: "ada", secret: "correct horse" });
    assert.equal(JSON.parse(Buffer.from(neu.accessToken.split(".")[0]!, "base64url").toString()).kid, kid);
    await sleep(1100);
    assert.deepEqual((await auth.publicKeys()).keys.map((k) => k.kid), [kid], "the retired key is dropped after the longest token lifetime");
    assert.equal(await code(auth.inspect(old.accessToken)), 401);
  });

  it("scopes accounts and rules by namespace; a token of one namespace is refused in another", async () => {
    const { auth } = make();
    await auth.generate("ada", { secret: "correct horse", namespace: "acme" });
    assert.equal(await code(auth.token({ id: "ada", secret: "correct horse" })), 401, "not in the default namespace");
    const t = await auth.token({ id: "ada", secret: "correct horse", namespace: "acme" });
    assert.equal(await code(auth.inspect(t.accessToken)), 401);
    assert.equal((await auth.inspect(t.accessToken, { namespace: "acme" })).issuer, "acme");
    assert.equal(await code(localVerifier({ keys: () => auth.publicKeys() }).inspect(t.accessToken)), 401);
    assert.equal((await localVerifier({ keys: () => auth.publicKeys(), namespace: "acme" }).inspect(t.accessToken)).id, "ada");
    await auth.grant({ id: "r", scope: "*", resource: { type: "*", name: "*", endpoint: "*" }, access: "granted", priority: 0 }, { namespace: "acme" });
    assert.equal((await auth.rules()).length, 0);
    assert.equal((await auth.rules({ namespace: "acme" })).length, 1);
    assert.deepEqual((await auth.accounts()).map((a) => a.id), []);
    const acme = await auth.inspect(t.accessToken, { namespace: "acme" });
    assert.equal(await code(auth.verify(acme, { type: "service", name: "g", endpoint: "G.H" }, { namespace: "acme" })), 0);
    assert.equal(await code(auth.verify(acme, { type: "service", name: "g", endpoint: "G.H" })), 403, "acme's rules do not apply in micro");
  });

  it("grants, revokes and verifies rules", async () => {
    const { auth } = make({ rulesCacheTTL: 60_000 });
    const r = { type: "service", name: "greeter", endpoint: "Greeter.Hello" };
    assert.equal(await code(auth.verify(undefined, r)), 401);
    await auth.grant({ id: "pub", scope: "", resource: r, access: "granted", priority: 0 });
    assert.equal(await code(auth.verify(undefined, r)), 0, "grant clears the cache");
    await auth.revoke("pub");
    await auth.revoke("pub");
    assert.equal(await code(auth.verify(undefined, r)), 401);
    assert.equal(await code(auth.grant({ id: "bad" } as never)), 400);
  });

  it("noopAuth lets everything through", async () => {
    const a = noopAuth();
    await a.verify(undefined, { type: "service", name: "x", endpoint: "Y.Z" });
    assert.equal((await a.inspect("anything")).issuer, "micro");
  });

  it("a local verifier remembers verified tokens only until they expire, and never a refused one", async () => {
    const { auth } = make();
    await auth.generate("ada", { secret: "correct horse" });
    const t = await auth.token({ id: "ada", secret: "correct horse" }, { expiry: 1000 });
    const verifier = localVerifier({ keys: () => auth.publicKeys(), leeway: 0 });
    const a = await verifier.inspect(t.accessToken);
    assert.equal(a.id, "ada");
    assert.equal(await verifier.inspect(t.accessToken), a, "served from the cache");
    assert.ok(Object.isFrozen(a), "a cached account cannot be changed by one caller for the next");
    const forged = t.accessToken.slice(0, -4) + (t.accessToken.endsWith("AAAA") ? "BBBB" : "AAAA");
    assert.equal(await code(verifier.inspect(forged)), 401);
    assert.equal(await code(verifier.inspect(forged)), 401, "a refused token is checked again, not remembered");
    const exp = JSON.parse(Buffer.from(t.accessToken.split(".")[1]!, "base64url").toString()).exp as number;
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 50);
    assert.equal(await code(verifier.inspect(t.accessToken)), 401, "expired tokens fall out of the cache");
  });
});
