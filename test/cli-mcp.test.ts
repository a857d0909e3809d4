// micro mcp list / call / serve: the real binary over a micro server's registry, with a sample
// service registered through it.
import { strict as assert } from "node:assert";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { errors, Service, serviceRegistry, silentLogger, tcpTransport } from "@micro-ts/micro";
import { startServer, type RunningServer } from "@micro-ts/server";
import { micro, MICRO_BIN } from "./cli-helpers.js";
import { ROOT } from "./helpers.js";

describe("micro mcp", () => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let greeter: Service;
  const run = (args: string[]) => micro(args, { env });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "micro-cli-mcp-"));
    server = await startServer({ dataDir: join(dir, "data"), address: "127.0.0.1:0", gatewayAddress: false, dashboard: false, logger: silentLogger() });
    env = { MICRO_CONFIG_DIR: join(dir, "config"), MICRO_SERVER: server.address, MICRO_LOG_LEVEL: "warn", MICRO_TOKEN: "" };
    greeter = new Service({ name: "greeter", registry: serviceRegistry({ address: server.address }), transport: tcpTransport(), logger: silentLogger() });
    greeter.handle(
      {
        async hello(req: { name: string }) {
          return { msg: `Hello ${req.name}` };
        },
        async fail() {
          throw errors.badRequest("greeter", "nobody to greet");
        },
      },
      { name: "Greeter", endpoints: { hello: { description: "Greets someone by name." } } },
    );
    await greeter.start();
  });

  after(async () => {
    await greeter?.stop();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("micro mcp list shows the sample service's tools", async () => {
    const r = await run(["mcp", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^greeter_Greeter_Hello\s+Greets someone by name\.$/m);
    const tools = JSON.parse((await run(["mcp", "list", "-o", "json"])).stdout) as { name: string; inputSchema: unknown }[];
    assert.deepEqual(tools.map((t) => t.name), ["greeter_Greeter_Fail", "greeter_Greeter_Hello"]);
  });

  test("micro mcp call returns the tool's result", async () => {
    const r = await run(["mcp", "call", "greeter_Greeter_Hello", '{"name":"Ada"}', "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { msg: "Hello Ada" });
  });

  test("a tool error exits 1 with the service's detail; an unknown tool exits 1", async () => {
    const r = await run(["mcp", "call", "greeter_Greeter_Fail", "{}"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nobody to greet \(400 Bad Request, from greeter\)/);
    const unknown = await run(["mcp", "call", "greeter_Greeter_Nope", "{}"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown tool.*micro mcp list/);
  });

  for (const args of [["mcp", "call"], ["mcp", "call", "greeter_Greeter_Hello", "{nope"], ["mcp", "call", "greeter_Greeter_Hello", "[1,2]"], ["mcp", "list", "extra"], ["mcp", "bogus"]]) {
    test(`micro ${args.join(" ")} is a usage error (exit 2)`, async () => {
      const r = await run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^micro: \S/);
      assert.equal(r.stdout, "");
    });
  }

  test("micro mcp serve speaks MCP on stdio: initialize → tools/list → tools/call", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MICRO_BIN, "mcp", "serve"],
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), NODE_OPTIONS: "", ...env },
      stderr: "pipe",
    });
    const client = new Client({ name: "cli-mcp-test", version: "0.0.0" });
    // Anything on stdout that is not JSON-RPC would fail the client's parse: report it.
    const bad: unknown[] = [];
    client.onerror = (e) => bad.push(e);
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === "greeter_Greeter_Hello"));
      const res = await client.callTool({ name: "greeter_Greeter_Hello", arguments: { name: "Grace" } });
      assert.deepEqual(res.structuredContent, { msg: "Hello Grace" });
      assert.deepEqual(bad, []);
    } finally {
      await client.close();
    }
  });
});
