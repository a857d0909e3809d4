// With auth on, no core endpoint of `micro server` answers without a valid token: the rules
// decide (scope "service" reaches registry/broker/store/config/events, admin everything), and the
// services the server's runtime starts get a service account of their own.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MicroError, memoryRegistry, RpcClient, silentLogger, tcpTransport } from "@micro-ts/micro";
import { startServer, type RunningServer } from "@micro-ts/server";
import { ROOT } from "./helpers.js";

describe("micro server with auth guards every core service", () => {
  const dir = mkdtempSync(join(tmpdir(), "micro-auth-core-"));
  let server: RunningServer;
  let client: RpcClient;
  let adminPassword = "";
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 0,
      (e: unknown) => (e instanceof MicroError ? e.code : -1),
    );
  const call = <T = unknown>(service: string, endpoint: string, req: unknown, token?: string) =>
    client.call<T>(service, endpoint, req, { address: server.address, timeout: 5000, ...(token ? { metadata: { authorization: `Bearer ${token}` } } : {}) });

  before(async () => {
    server = await startServer({
      dataDir: dir,
      address: "127.0.0.1:0",
      gatewayAddress: "127.0.0.1:0",
      dashboard: false,
      auth: true,
      logger: silentLogger(),
      announceAdmin: (_id, pw) => (adminPassword = pw),
    });
    client = new RpcClient({ registry: memoryRegistry(), transport: tcpTransport() });
  });

  after(async () => {
    await client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses core calls without a token (401) and lets a service account through", async () => {
    assert.equal(await code(call("registry", "Registry.ListServices", {})), 401);
    assert.equal(await code(call("store", "Store.Read", { key: "x" })), 401);
    assert.equal(await code(call("config", "Config.Read", {})), 401);
    assert.equal(await code(call("runtime", "Runtime.Read", {})), 401);
    assert.equal(await code(call("registry", "Registry.ListServices", {}, "not.a.token")), 401);
    // Login and the public keys stay public.
    assert.equal(await code(call("auth", "Auth.PublicKeys", {})), 0);

    const svc = await server.auth.generate("svc-test", { type: "service", scopes: ["service"], secret: "svc-test-secret-1" });
    const t = await call<{ token: { accessToken: string } }>("auth", "Auth.Token", { credentials: { id: svc.id, secret: "svc-test-secret-1" } });
    const token = t.token.accessToken;
    assert.equal(await code(call("registry", "Registry.ListServices", {}, token)), 0);
    assert.equal(await code(call("store", "Store.Read", { key: "x" }, token)), 404, "past auth: the key is just not there");
    // What services need, not everything: the runtime and account management are the admin's.
    assert.equal(await code(call("runtime", "Runtime.Read", {}, token)), 403);
    assert.equal(await code(call("auth", "Auth.Accounts", {}, token)), 403);

    const admin = (await call<{ token: { accessToken: string } }>("auth", "Auth.Token", { credentials: { id: "admin", secret: adminPassword } })).token.accessToken;
    assert.equal(await code(call("runtime", "Runtime.Read", {}, admin)), 0);
  });

  it("gives the services its runtime starts a service account, so they register and are callable", { timeout: 60_000 }, async () => {
    const admin = (await call<{ token: { accessToken: string } }>("auth", "Auth.Token", { credentials: { id: "admin", secret: adminPassword } })).token.accessToken;
    await call("runtime", "Runtime.Create", { resource: { name: "auth-pinger", source: join(ROOT, "test/fixtures/auth-pinger"), env: { SVC_NAME: "pinger", MICRO_REGISTER_INTERVAL: "1" } } }, admin);
    const accounts = await server.auth.accounts();
    const svc = accounts.find((a) => a.id.startsWith("svc-auth-pinger-"));
    assert.ok(svc, `a service account was generated: ${accounts.map((a) => a.id).join(", ")}`);
    assert.equal(svc.type, "service");
    assert.deepEqual(svc.scopes, ["service"]);

    const gw = (token?: string) =>
      fetch(`http://${server.gatewayAddress}/pinger/ping/remember`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ key: "k", value: 42 }),
      });
    // It registered through the guarded registry (with its own token) and answers through the gateway.
    let status = 0;
    let text = "";
    for (let i = 0; i < 200; i++) {
      const res = await gw(admin);
      status = res.status;
      text = await res.text();
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, `gateway answered ${status}: ${text}`);
    const body = JSON.parse(text) as { value: unknown; event: string };
    assert.equal(body.value, 42, "the store answered the service's own token");
    assert.equal((await gw()).status, 401);
    // Called directly on its own port, past the gateway: no token, no answer.
    const node = (await server.registry.getService("pinger"))[0]!.nodes[0]!;
    await assert.rejects(
      client.call("pinger", "Ping.Remember", { key: "k", value: 1 }, { address: node.address }),
      (e: unknown) => e instanceof MicroError && e.code === 401,
    );
    assert.equal(
      ((await client.call<{ value: unknown }>("pinger", "Ping.Remember", { key: "k", value: 7 }, { address: node.address, metadata: { authorization: `Bearer ${admin}` } })).value),
      7,
    );

    await call("runtime", "Runtime.Delete", { name: "auth-pinger" }, admin);
    assert.ok(!(await server.auth.accounts()).some((a) => a.id === svc.id), "the account goes with the service");
  });
});
