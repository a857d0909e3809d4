// Auth end to end on a real `micro server` (TCP listeners, its store, its gateway): a protected
// service, its callers with and without tokens, rules that deny, a public endpoint, and
// service-to-service calls carrying a service account's token.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  currentAccount,
  MicroError,
  memoryRegistry,
  RpcClient,
  Service,
  serviceAuth,
  serviceRegistry,
  serviceToken,
  silentLogger,
  tcpTransport,
  type Account,
  type Auth,
  type Context,
} from "@micro-ts/micro";
import { startServer, type RunningServer } from "@micro-ts/server";

class Greeter {
  async hello(req: { name: string }, ctx: Context): Promise<{ msg: string; caller: string | undefined }> {
    return { msg: `Hello ${req.name}`, caller: (ctx.account as Account | undefined)?.id };
  }
  async ping(): Promise<{ pong: true; caller: string | undefined }> {
    return { pong: true, caller: currentAccount()?.id };
  }
  async secret(): Promise<{ ok: true }> {
    return { ok: true };
  }
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    assert.ok(e instanceof MicroError, `not a MicroError: ${String(e)}`);
    return e.code;
  }
}

describe("auth on a micro server", () => {
  const dir = mkdtempSync(join(tmpdir(), "micro-auth-"));
  let server: RunningServer;
  let admin: Auth;
  const announced: [string, string][] = [];
  const services: Service[] = [];
  const auths: Auth[] = [];
  let client: RpcClient;
  let greeterAddress = "";
  const greeterCreds = { id: "greeter", secret: "greeter-service-secret" };
  const callerCreds = { id: "caller", secret: "caller-service-secret" };

  const service = (name: string, creds: { id: string; secret: string }) => {
    const a = serviceAuth({ address: server.address, credentials: creds });
    auths.push(a);
    const s = new Service({
      name,
      registry: serviceRegistry({ address: server.address, token: serviceToken({ auth: a, credentials: creds }) }),
      transport: tcpTransport(),
      logger: silentLogger(),
      auth: { auth: a, credentials: creds, rulesTTL: 0 },
    });
    services.push(s);
    return s;
  };
  const call = (endpoint: string, token?: string) =>
    client.call<Record<string, unknown>>("greeter", endpoint, { name: "Ada" }, { address: greeterAddress, ...(token ? { metadata: { authorization: `Bearer ${token}` } } : {}) });

  before(async () => {
    server = await startServer({
      dataDir: dir,
      address: "127.0.0.1:0",
      gatewayAddress: "127.0.0.1:0",
      auth: true,
      logger: silentLogger(),
      announceAdmin: (id, pw) => announced.push([id, pw]),
    });
    assert.equal(announced.length, 1, "the admin password is announced once");
    admin = serviceAuth({ address: server.address, credentials: { id: "admin", secret: announced[0]![1] } });
    auths.push(admin);
    await admin.generate("ada", { secret: "ada-password-1", scopes: ["greeter.user"] });
    await admin.generate("eve", { secret: "eve-password-1", scopes: [] });
    await admin.generate(greeterCreds.id, { secret: greeterCreds.secret, type: "service", scopes: ["service"] });
    await admin.generate(callerCreds.id, { secret: callerCreds.secret, type: "service", scopes: ["service"] });
    const rule = (id: string, scope: string, endpoint: string, access: "granted" | "denied" = "granted", priority = 0) =>
      admin.grant({ id, scope, resource: { type: "service", name: "greeter", endpoint }, access, priority });
    await rule("greeter-users", "greeter.user", "Greeter.*");
    await rule("greeter-services", "service", "*");
    await rule("greeter-ping-public", "", "Greeter.Ping");
    const greeter = service("greeter", greeterCreds).handle(new Greeter());
    await greeter.start();
    greeterAddress = greeter.server.address;
    client = new RpcClient({ registry: memoryRegistry(), transport: tcpTransport() });
  });

  after(async () => {
    await client?.close();
    for (const s of services) await s.stop();
    for (const a of auths) await a.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a caller without a token with 401", async () => {
    assert.equal(await code(call("Greeter.Hello")), 401);
  });

  it("refuses bad tokens with 401: garbage, forged, another server's", async () => {
    const t = await admin.token({ id: "ada", secret: "ada-password-1" });
    const [h, p] = t.accessToken.split(".");
    assert.equal(await code(call("Greeter.Hello", "garbage")), 401);
    assert.equal(await code(call("Greeter.Hello", `${h}.${p}.${"A".repeat(86)}`)), 401);
    assert.equal(await code(call("Greeter.Hello", `${h}.${Buffer.from('{"sub":"admin"}').toString("base64url")}.${t.accessToken.split(".")[2]}`)), 401);
    const other = await startServer({ dataDir: mkdtempSync(join(dir, "other-")), address: "127.0.0.1:0", gatewayAddress: false, auth: true, logger: silentLogger(), announceAdmin: () => {} });
    try {
      const foreign = await other.auth.generate("ada", { secret: "ada-password-1", scopes: ["greeter.user"] }).then(() => other.auth.token({ id: "ada", secret: "ada-password-1" }));
      assert.equal(await code(call("Greeter.Hello", foreign.accessToken)), 401);
    } finally {
      await other.stop();
    }
  });

  it("lets a valid token through and hands the account to the handler", async () => {
    const t = await admin.token({ id: "ada", secret: "ada-password-1" });
    const r = await call("Greeter.Hello", t.accessToken);
    assert.deepEqual(r, { msg: "Hello Ada", caller: "ada" });
  });

  it("refuses with 403 when no rule grants the account, and when a rule denies it", async () => {
    const eve = await admin.token({ id: "eve", secret: "eve-password-1" });
    assert.equal(await code(call("Greeter.Hello", eve.accessToken)), 403);
    const ada = await admin.token({ id: "ada", secret: "ada-password-1" });
    assert.equal(await code(call("Greeter.Secret", ada.accessToken)), 0);
    await admin.grant({ id: "no-secrets", scope: "greeter.user", resource: { type: "service", name: "greeter", endpoint: "Greeter.Secret" }, access: "denied", priority: 10 });
    assert.equal(await code(call("Greeter.Secret", ada.accessToken)), 403);
    assert.equal(await code(call("greeter.secret", ada.accessToken)), 403, "case does not get around a rule");
    assert.equal(await code(call("Greeter.Hello", ada.accessToken)), 0);
  });

  it("serves a public endpoint without a token", async () => {
    assert.deepEqual(await call("Greeter.Ping"), { pong: true });
  });

  it("service to service: the caller's service account token gets through", async () => {
    const caller = service("caller", callerCreds);
    await caller.start();
    const r = await caller.client.call<{ msg: string; caller: string }>("greeter", "Greeter.Hello", { name: "B" });
    assert.deepEqual(r, { msg: "Hello B", caller: "caller" });
  });

  it("guards the auth service itself: only login is public", async () => {
    const anon = serviceAuth({ address: server.address });
    auths.push(anon);
    assert.equal(await code(anon.generate("mallory", { secret: "mallory-secret", scopes: ["admin"] })), 401);
    assert.equal(await code(anon.accounts()), 401);
    assert.equal(await code(anon.grant({ id: "x", scope: "", resource: { type: "*", name: "*", endpoint: "*" }, access: "granted", priority: 99 })), 401);
    const ada = serviceAuth({ address: server.address, credentials: { id: "ada", secret: "ada-password-1" } });
    auths.push(ada);
    assert.equal(await code(ada.generate("mallory", { secret: "mallory-secret", scopes: ["admin"] })), 403);
    assert.equal((await anon.token({ id: "ada", secret: "ada-password-1" })).accessToken.split(".").length, 3);
    assert.ok((await anon.publicKeys()).keys.length >= 1);
  });

  it("the gateway requires a token and checks the rules", async () => {
    const url = `http://${server.gatewayAddress}/greeter/greeter/hello`;
    const post = (headers: Record<string, string> = {}) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: '{"name":"Ada"}' });
    assert.equal((await post()).status, 401);
    assert.equal((await post({ authorization: "Bearer nope" })).status, 401);
    const ada = await admin.token({ id: "ada", secret: "ada-password-1" });
    const ok = await post({ authorization: `Bearer ${ada.accessToken}` });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { msg: "Hello Ada", caller: "ada" });
    const eve = await admin.token({ id: "eve", secret: "eve-password-1" });
    assert.equal((await post({ authorization: `Bearer ${eve.accessToken}` })).status, 403);
  });
});
