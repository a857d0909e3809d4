// docs/auth.md's worked example through the real CLI and gateway: `micro server --auth` → login as
// admin → create an account, a service account and a rule → a protected service → login as ada
// → `micro call` and the gateway let her through (401 without a token) → a deny rule → 403 on
// both → logout → `micro user` fails. Also: the stored login (0600, refreshed and rotated) and
// the auth commands' usage errors.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { Service, serviceAuth, serviceRegistry, serviceToken, silentLogger, tcpTransport, type Auth, type Context } from "@micro-ts/micro";
import { micro, MICRO_BIN, type Result } from "./cli-helpers.js";
import { ROOT } from "./helpers.js";

class Greeter {
  async hello(req: { name: string }, ctx: Context): Promise<{ msg: string; caller: string | undefined }> {
    return { msg: `Hello ${req.name}`, caller: (ctx as { account?: { id: string } }).account?.id };
  }
}

/** Runs `micro` with a password on stdin (not a TTY): how a script logs in. */
function microStdin(args: string[], input: string, env: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MICRO_BIN, ...args], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "", MICRO_SERVER: "", MICRO_TOKEN: "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

describe("auth through the CLI and the gateway", () => {
  let dir: string;
  let env: Record<string, string>;
  let server: ChildProcess;
  let info: { address: string; gateway: string };
  let adminPassword = "";
  let serverOut = "";
  let greeter: Service | undefined;
  let greeterAuth: Auth | undefined;
  const run = (args: string[]) => micro(args, { env });
  const ok = async (args: string[]): Promise<Result> => {
    const r = await run(args);
    assert.equal(r.code, 0, `micro ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const gateway = (token?: string) =>
    fetch(`http://${info.gateway}/greeter/hello`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ name: "Ada" }),
    });
  const loginFile = () => join(env["MICRO_CONFIG_DIR"]!, "logins", "test.json");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "micro-cli-auth-"));
    env = { MICRO_CONFIG_DIR: join(dir, "config"), MICRO_LOG_LEVEL: "warn", MICRO_TOKEN: "" };
    server = spawn(
      process.execPath,
      [MICRO_BIN, "server", "--auth", "--address", "127.0.0.1:0", "--gateway-address", "127.0.0.1:0", "--data-dir", join(dir, "data"), "--output", "json"],
      { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let serverErr = "";
    server.stderr!.on("data", (d: Buffer) => (serverErr += d.toString()));
    info = await new Promise((resolve, reject) => {
      createInterface({ input: server.stdout! }).on("line", (l) => {
        serverOut += `${l}\n`;
        // The admin's password is printed once, before the server's JSON line.
        const pw = /created account "admin" with password (\S+)/.exec(l);
        if (pw) adminPassword = pw[1]!;
        if (l.startsWith("{")) {
          const v = JSON.parse(l) as typeof info & { runtime?: string };
          if (v.runtime) resolve(v);
        }
      });
      server.once("exit", (code) => reject(new Error(`micro server exited ${code}: ${serverErr}`)));
    });
    assert.ok(adminPassword, `no admin password announced: ${serverOut}`);
    await ok(["env", "add", "test", info.address]);
    await ok(["env", "set", "test"]);
  });

  after(async () => {
    await greeter?.stop();
    await greeterAuth?.close();
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  test("create account → login → call a protected endpoint → denied by a rule → logout", async () => {
    // Not logged in: the auth service says who may do what.
    await ok(["logout"]);
    const anon = await run(["auth", "list", "accounts"]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /401 Unauthorized/);

    // 1. admin logs in (password on stdin) and creates ada (secret generated, shown once) and the service's account.
    const login = await microStdin(["login", "--id", "admin"], `${adminPassword}\n`, env);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in to env test .* as admin/);
    assert.ok(!login.stdout.includes(adminPassword) && !login.stderr.includes(adminPassword), "the password is never printed");
    assert.equal((await stat(loginFile())).mode & 0o777, 0o600);
    assert.ok(!(await readFile(loginFile(), "utf8")).includes(adminPassword), "the stored login holds tokens, not the password");

    const whoami = JSON.parse((await ok(["user", "-o", "json"])).stdout) as { id: string; scopes: string[]; issuer: string };
    assert.deepEqual([whoami.id, whoami.scopes, whoami.issuer], ["admin", ["admin"], "micro"]);

    const ada = JSON.parse((await ok(["auth", "create", "account", "ada", "--scopes", "user", "-o", "json"])).stdout) as { id: string; secret: string };
    assert.equal(ada.id, "ada");
    assert.ok(typeof ada.secret === "string" && ada.secret.length >= 16, "a generated secret is printed once");
    const svcSecret = "greeter-service-secret-1";
    const svc = await ok(["auth", "create", "account", "greeter", "--type", "service", "--scopes", "service", "--secret", svcSecret]);
    assert.ok(!svc.stdout.includes(svcSecret), "a given secret is never echoed");
    const accounts = JSON.parse((await ok(["auth", "list", "accounts", "-o", "json"])).stdout) as { id: string; secret?: string }[];
    assert.deepEqual(accounts.map((a) => a.id), ["ada", "admin", "greeter"]);
    assert.ok(accounts.every((a) => a.secret === undefined));

    // 2. a protected service, registered through the server, and a rule granting scope user on it.
    greeterAuth = serviceAuth({ address: info.address, credentials: { id: "greeter", secret: svcSecret } });
    greeter = new Service({
      name: "greeter",
      registry: serviceRegistry({ address: info.address, token: serviceToken({ auth: greeterAuth, credentials: { id: "greeter", secret: svcSecret } }) }),
      transport: tcpTransport(),
      logger: silentLogger(),
      auth: { auth: greeterAuth, credentials: { id: "greeter", secret: svcSecret }, rulesTTL: 0 },
    }).handle(new Greeter());
    await greeter.start();
    await ok(["auth", "create", "rule", "--id", "greeter-users", "--scope", "user", "--resource", "service:greeter:Greeter.*", "--access", "granted", "--priority", "0"]);
    const rules = JSON.parse((await ok(["auth", "list", "rules", "-o", "json"])).stdout) as { id: string }[];
    assert.ok(rules.some((r) => r.id === "greeter-users"));

    // 3. ada logs in and calls it: through the CLI, and through the gateway with her token.
    await ok(["login", "--id", "ada", "--password", ada.secret]);
    assert.equal((JSON.parse((await ok(["user", "-o", "json"])).stdout) as { id: string }).id, "ada");
    const call = await ok(["call", "greeter", "Greeter.Hello", '{"name":"Ada"}', "-o", "json"]);
    assert.deepEqual(JSON.parse(call.stdout), { msg: "Hello Ada", caller: "ada" });
    // MCP as ada: the rules decide which tools she sees.
    const tools = JSON.parse((await ok(["mcp", "list", "-o", "json"])).stdout) as { name: string }[];
    assert.deepEqual(tools.map((t) => t.name), ["greeter_Greeter_Hello"]);
    // ada may not manage accounts.
    const denied = await run(["auth", "list", "accounts"]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /403 Forbidden/);

    const token = (JSON.parse(await readFile(loginFile(), "utf8")) as { accessToken: string }).accessToken;
    assert.equal((await gateway()).status, 401);
    const through = await gateway(token);
    assert.equal(through.status, 200);
    assert.deepEqual(await through.json(), { msg: "Hello Ada", caller: "ada" });

    // 4. a higher-priority deny beats the grant, at the gateway and for the CLI.
    const asAdmin = await microStdin(["login"], `${adminPassword}\n`, env);
    assert.equal(asAdmin.code, 0, asAdmin.stderr);
    await ok(["auth", "create", "rule", "--id", "no-hello", "--scope", "user", "--resource", "service:greeter:Greeter.Hello", "--access", "denied", "--priority", "10"]);
    await ok(["login", "--id", "ada", "--password", ada.secret]);
    const token2 = (JSON.parse(await readFile(loginFile(), "utf8")) as { accessToken: string }).accessToken;
    assert.equal((await gateway(token2)).status, 403);
    const refused = await run(["call", "greeter", "Greeter.Hello", '{"name":"Ada"}']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /403 Forbidden/);
    assert.deepEqual(JSON.parse((await ok(["mcp", "list", "-o", "json"])).stdout), []);
    const tool = await run(["mcp", "call", "greeter_Greeter_Hello", '{"name":"Ada"}']);
    assert.equal(tool.code, 1);
    assert.match(tool.stderr, /403 Forbidden/);

    // 5. logout: the login is gone, `micro user` fails.
    assert.match((await ok(["logout"])).stdout, /logged out of env test/);
    const user = await run(["user"]);
    assert.equal(user.code, 1);
    assert.match(user.stderr, /not logged in/);

    // Deleting: the rule and the account.
    await microStdin(["login"], `${adminPassword}\n`, env).then((r) => assert.equal(r.code, 0, r.stderr));
    await ok(["auth", "delete", "rule", "no-hello"]);
    await ok(["auth", "delete", "account", "ada"]);
    const after = JSON.parse((await ok(["auth", "list", "accounts", "-o", "json"])).stdout) as { id: string }[];
    assert.deepEqual(after.map((a) => a.id), ["admin", "greeter"]);

    // No secret anywhere in what the server printed after its one announcement.
    for (const s of [ada.secret, svcSecret]) assert.ok(!serverOut.includes(s), "a secret reached the server's output");
  });

  test("an expired access token is refreshed on use and the spent refresh token replaced", async () => {
    const r = await microStdin(["login"], `${adminPassword}\n`, env);
    assert.equal(r.code, 0, r.stderr);
    const before = JSON.parse(await readFile(loginFile(), "utf8")) as { refreshToken: string; accessToken: string; expiry: number };
    await writeFile(loginFile(), JSON.stringify({ ...before, expiry: Date.now() - 1000 }), { mode: 0o600 });
    assert.equal((JSON.parse((await ok(["user", "-o", "json"])).stdout) as { id: string }).id, "admin");
    const rotated = JSON.parse(await readFile(loginFile(), "utf8")) as { refreshToken: string; accessToken: string; expiry: number };
    assert.notEqual(rotated.refreshToken, before.refreshToken);
    assert.ok(rotated.expiry > Date.now());
    assert.equal((await stat(loginFile())).mode & 0o777, 0o600);
    // The spent refresh token is refused by the server: a stale copy cannot log in again.
    await writeFile(loginFile(), JSON.stringify({ ...before, expiry: Date.now() - 1000 }), { mode: 0o600 });
    const stale = await run(["user"]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /expired.*micro login/);
  });

  test("a wrong password is refused with 401 and not echoed", async () => {
    const r = await run(["login", "--id", "admin", "--password", "not-the-password-42"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /401 Unauthorized/);
    assert.ok(!r.stderr.includes("not-the-password-42") && !r.stdout.includes("not-the-password-42"));
  });

  const usage: string[][] = [
    ["auth", "list", "users"],
    ["auth", "list"],
    ["auth", "create", "account"],
    ["auth", "create", "account", "bob", "--type", "robot"],
    ["auth", "create", "rule", "--id", "r"],
    ["auth", "create", "rule", "--id", "r", "--scope", "user", "--resource", "service:greeter"],
    ["auth", "create", "rule", "--id", "r", "--scope", "user", "--resource", "service:greeter:*", "--access", "maybe"],
    ["auth", "create", "rule", "--id", "r", "--scope", "user", "--resource", "service:greeter:*", "--priority", "high"],
    ["auth", "delete", "account"],
    ["auth", "delete", "thing", "x"],
    ["user", "extra"],
  ];
  for (const args of usage) {
    test(`micro ${args.join(" ")} is a usage error (exit 2)`, async () => {
      const r = await run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^micro: \S.*\nusage: micro /);
      assert.equal(r.stdout, "");
    });
  }

  test("login without a password on an empty stdin is a usage error", async () => {
    const r = await microStdin(["login", "--id", "admin"], "", env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no password given/);
  });
});
