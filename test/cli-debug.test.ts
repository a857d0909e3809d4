// micro logs / stats / health / trace on services that `micro run` did not start: the real
// binary against a real `micro server` (its runtime knows nothing of them), reading the Debug
// handler every service answers.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { memoryRegistry, RpcClient, Service, serviceRegistry, silentLogger, tcpTransport, type Logger } from "@micro-ts/micro";
import { micro, MICRO_BIN } from "./cli-helpers.js";
import { ROOT } from "./helpers.js";

describe("debug commands on services started outside the runtime", () => {
  let dir: string;
  let env: Record<string, string>;
  let server: ChildProcess;
  let address = "";
  let client: RpcClient;
  const services: Service[] = [];
  const logger: Logger = silentLogger();
  let dbUp = true;
  const run = (args: string[]) => micro(args, { env });

  const start = async (s: Service) => {
    services.push(s);
    await s.start();
    return s;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "micro-cli-debug-"));
    env = { MICRO_CONFIG_DIR: join(dir, "config"), MICRO_LOG_LEVEL: "warn" };
    server = spawn(process.execPath, [MICRO_BIN, "server", "--address", "127.0.0.1:0", "--gateway-address", "127.0.0.1:0", "--data-dir", join(dir, "data"), "--output", "json"], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    server.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    address = await new Promise((resolve, reject) => {
      createInterface({ input: server.stdout! }).on("line", (l) => {
        if (!l.startsWith("{")) return;
        const v = JSON.parse(l) as { address: string; runtime?: string };
        if (v.runtime) resolve(v.address);
      });
      server.once("exit", (code) => reject(new Error(`micro server exited ${code}: ${err}`)));
    });
    env["MICRO_SERVER"] = address;
    const svc = (name: string, o: Partial<ConstructorParameters<typeof Service>[0]> = {}) =>
      new Service({ name, registry: serviceRegistry({ address }), transport: tcpTransport(), logger: silentLogger(), ...o });

    const greeter = svc("greeter", { logger, debug: { checks: { db: () => dbUp } } });
    greeter.handle({
      async hello(req: { name: string }) {
        logger.info("greeted", { name: req.name });
        return { msg: `Hello ${req.name}` };
      },
    }, { name: "Greeter" });
    await start(greeter);

    const beta = svc("beta").handle({ async mid() { return { ok: true }; } }, { name: "Beta" });
    await start(beta);
    const alpha = svc("alpha");
    alpha.handle({ async top() { return alpha.client.call("beta", "Beta.Mid", {}); } }, { name: "Alpha" });
    await start(alpha);
    client = new RpcClient({ registry: memoryRegistry(), transport: tcpTransport(), callDefaults: { retries: 0 } });
  });

  after(async () => {
    await client?.close();
    for (const s of services) await s.stop();
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (service: string, endpoint: string, req: unknown, metadata?: Record<string, string>) => {
    const [rec] = await serviceRegistry({ address }).getService(service);
    return client.call(service, endpoint, req, { address: rec!.nodes[0]!.address, ...(metadata ? { metadata } : {}) });
  };

  test("micro logs NAME prints the service's log lines from Debug.Log", async () => {
    await call("greeter", "Greeter.Hello", { name: "Logs" });
    const r = await run(["logs", "greeter"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /INFO\s+greeted .*name=Logs/);
    const json = await run(["logs", "greeter", "-n", "1", "-o", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; fields: Record<string, unknown> });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.msg, "greeted");
  });

  test("micro logs NAME -f follows new lines until interrupted", async () => {
    await call("greeter", "Greeter.Hello", { name: "Seed" });
    const p = spawn(process.execPath, [MICRO_BIN, "logs", "greeter", "-f", "-n", "1"], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => p.once("exit", r));
    const waiters: [string, (l: string) => void][] = [];
    const lineWith = (s: string) => new Promise<string>((r) => waiters.push([s, r]));
    createInterface({ input: p.stdout }).on("line", (l) => {
      for (const [s, r] of waiters) if (l.includes(s)) r(l);
    });
    // The buffered record arrives once Debug.Logs is following: from then on new records stream.
    const seed = lineWith("name=Seed");
    const seen = lineWith("name=Follow");
    assert.match(await seed, /greeted .*name=Seed/);
    await call("greeter", "Greeter.Hello", { name: "Follow" });
    assert.match(await seen, /greeted .*name=Follow/);
    p.kill("SIGINT");
    assert.equal(await exited, 0);
  });

  test("micro stats NAME prints request counts per endpoint", async () => {
    const before = await run(["stats", "greeter", "-o", "json"]);
    assert.equal(before.code, 0, before.stderr);
    const count = (out: string) => (JSON.parse(out) as { endpoints: { name: string; requests: number }[] }[])[0]!.endpoints.find((e) => e.name === "Greeter.Hello")?.requests ?? 0;
    const n = count(before.stdout);
    for (let i = 0; i < 3; i++) await call("greeter", "Greeter.Hello", { name: "Stats" });
    const after = await run(["stats", "greeter", "-o", "json"]);
    assert.equal(count(after.stdout), n + 3);
    const text = await run(["stats", "greeter"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^\\s+Greeter\\.Hello\\s+${n + 3}\\s+0\\s+0\\s`, "m"));
    assert.match(text.stdout, /requests \d+ {2}errors 0/);
  });

  test("micro health NAME reads Debug.Health: ok, then degraded with the failing check (exit 1)", async () => {
    dbUp = true;
    const ok = await run(["health", "greeter"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\bok$/m);
    dbUp = false;
    const bad = await run(["health", "greeter", "-o", "json"]);
    assert.equal(bad.code, 1);
    const [node] = JSON.parse(bad.stdout) as { status: string; checks: Record<string, { status: string }> }[];
    assert.equal(node!.status, "degraded");
    assert.equal(node!.checks["db"]!.status, "failing");
    dbUp = true;
  });

  test("micro trace ID prints one request's spans across services as a tree", async () => {
    const traceId = randomBytes(16).toString("hex");
    await call("alpha", "Alpha.Top", {}, { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` });
    const r = await run(["trace", traceId]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, new RegExp(`^trace ${traceId}: 3 spans across alpha, beta, `));
    assert.match(lines[1]!, /^alpha Alpha\.Top {2}server@alpha {2}[\d.]+ms$/);
    assert.match(lines[2]!, /^└─ beta Beta\.Mid {2}client@alpha {2}[\d.]+ms$/);
    assert.match(lines[3]!, /^ {3}└─ beta Beta\.Mid {2}server@beta {2}[\d.]+ms$/);
    const json = JSON.parse((await run(["trace", traceId, "-o", "json"])).stdout) as { spans: { traceId: string }[] };
    assert.equal(json.spans.length, 3);
    assert.ok(json.spans.every((s) => s.traceId === traceId));
  });

  test("an unknown trace or service is a failure (exit 1); malformed arguments are usage errors (exit 2)", async () => {
    assert.equal((await run(["trace", randomBytes(16).toString("hex")])).code, 1);
    const gone = await run(["stats", "nope"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /service nope is not running/);
    for (const args of [["trace", "xyz"], ["trace"], ["stats"], ["trace", "0".repeat(32)], ["stats", "a", "b"]]) {
      const u = await run(args);
      assert.equal(u.code, 2, `${args.join(" ")}: ${u.stderr}`);
      assert.match(u.stderr, /\nusage: micro /);
    }
  });
});
