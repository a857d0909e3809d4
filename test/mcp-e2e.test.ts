/**
 * The MCP server end to end with the SDK's own client, over stdio (a `micro mcp serve` process
 * talking to an in-test `micro server`) and over Streamable HTTP (the handler on a node:http
 * server): one shared suite, run against both transports.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, ErrorCode, McpError, ToolListChangedNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { RpcClient, silentLogger, tcpTransport, type Service } from "@micro-ts/micro";
import { createMcpServer, mcpHttpHandler, startServer, type McpHttpHandler, type RunningServer } from "@micro-ts/server";
import { denyHooks, greeterService, HELLO_SCHEMA, weatherService } from "./fixtures/mcp-services.js";
import { ROOT } from "./helpers.js";

interface Connected {
  client: Client;
  /** Resolves on the next `notifications/tools/list_changed`. */
  nextListChanged(ms?: number): Promise<void>;
  close(): Promise<void>;
}
type Connect = (o?: { deny?: string; token?: string }) => Promise<Connected>;

async function connected(client: Client, transport: Parameters<Client["connect"]>[0]): Promise<Connected> {
  const waiters: (() => void)[] = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    for (const w of waiters.splice(0)) w();
  });
  await client.connect(transport);
  return {
    client,
    nextListChanged: (ms = 15_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no notifications/tools/list_changed")), ms);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      }),
    close: () => client.close(),
  };
}

const text = (r: CallToolResult) => (r.content[0] as { type: "text"; text: string }).text;
const call = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as CallToolResult;
const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);

/** The behaviour every transport must show. `connect` opens a new MCP session. */
function mcpSuite(label: string, connect: () => Connect, greeter: () => Service, registry: () => RunningServer["registry"]) {
  describe(`MCP over ${label}`, () => {
    let s: Connected;
    before(async () => {
      s = await connect()();
    });
    after(async () => {
      await s.close();
    });

    it("initializes with the tools capability and its list_changed notification", () => {
      assert.deepEqual(s.client.getServerCapabilities()?.tools, { listChanged: true });
      assert.equal(s.client.getServerVersion()?.name, "micro");
    });

    it("lists one tool per endpoint, with the declared schema, description and examples", async () => {
      const { tools } = await s.client.listTools();
      const hello = tools.find((t) => t.name === "greeter_Greeter_Hello");
      assert.ok(hello, `tools: ${tools.map((t) => t.name).join(", ")}`);
      assert.deepEqual(hello.inputSchema, HELLO_SCHEMA);
      assert.match(hello.description ?? "", /^Greets someone by name\./);
      assert.match(hello.description ?? "", /Examples:\n- \{"name":"Ada"\}/);
      assert.deepEqual(hello._meta, { "micro/service": "greeter", "micro/endpoint": "Greeter.Hello", "micro/version": "latest", "micro/stream": false });
      const plain = tools.find((t) => t.name === "greeter_Greeter_Plain")!;
      assert.deepEqual(plain.inputSchema, { type: "object", additionalProperties: true });
      assert.match(plain.description ?? "", /No request schema was declared/);
      assert.match(tools.find((t) => t.name === "greeter_Greeter_Count")?.description ?? "", /Streaming endpoint/);
      assert.ok(!tools.some((t) => t.name === "greeter_Greeter_Secret"), "mcp: \"false\" opts an endpoint out");
      assert.ok(!tools.some((t) => t.name.startsWith("registry_") || t.name.startsWith("auth_")), "micro server's core services are not tools");
    });

    it("calls an endpoint and returns its JSON response as structured content", async () => {
      const r = await call(s.client, "greeter_Greeter_Hello", { name: "Ada" });
      assert.equal(r.isError, undefined);
      assert.deepEqual(r.structuredContent, { msg: "Hello Ada" });
      assert.deepEqual(JSON.parse(text(r)), { msg: "Hello Ada" });
      const p = await call(s.client, "greeter_Greeter_Plain", { b: 1, a: 2 });
      assert.deepEqual(p.structuredContent, { result: ["a", "b"] }, "non-object responses are wrapped");
    });

    it("collects a streaming endpoint's messages", async () => {
      const r = await call(s.client, "greeter_Greeter_Count", { to: 3 });
      assert.deepEqual(r.structuredContent, { items: [{ n: 1 }, { n: 2 }, { n: 3 }], truncated: false });
    });

    it("returns a service's MicroError as a tool error with its detail", async () => {
      const r = await call(s.client, "greeter_Greeter_Fail", { name: "Ada" });
      assert.equal(r.isError, true);
      const err = (r.structuredContent as { error: { code: number; detail: string; id: string } }).error;
      assert.equal(err.code, 409);
      assert.equal(err.id, "greeter");
      assert.equal(err.detail, "Ada was greeted already");
      assert.equal(JSON.parse(text(r)).code, 409);
      const invalid = await call(s.client, "greeter_Greeter_Hello", { name: 5 });
      assert.equal(invalid.isError, true);
      assert.equal((invalid.structuredContent as { error: { code: number } }).error.code, 400, "the service's schema check");
    });

    it("answers unknown tools and wrong argument shapes with MCP errors, and keeps serving", async () => {
      await assert.rejects(call(s.client, "nope_Nope_Nope"), (e: unknown) => e instanceof McpError && e.code === ErrorCode.InvalidParams);
      for (const bad of [[1, 2], "Ada", 5]) {
        await assert.rejects(
          s.client.request({ method: "tools/call", params: { name: "greeter_Greeter_Hello", arguments: bad as never } }, CallToolResultSchema),
          (e: unknown) => e instanceof McpError && e.code === ErrorCode.InvalidParams,
        );
      }
      await assert.rejects(s.client.request({ method: "tools/nope" } as never, CallToolResultSchema), (e: unknown) => e instanceof McpError && e.code === ErrorCode.MethodNotFound);
      assert.deepEqual((await call(s.client, "greeter_Greeter_Hello", { name: "Bob" })).structuredContent, { msg: "Hello Bob" });
    });

    it("follows the registry: a service that starts or stops changes the list and notifies", async () => {
      assert.ok(!(await names(s.client)).includes("weather_Weather_Today"));
      const weather = weatherService(registry());
      let changed = s.nextListChanged();
      await weather.start();
      try {
        await changed;
        assert.ok((await names(s.client)).includes("weather_Weather_Today"));
        assert.deepEqual((await call(s.client, "weather_Weather_Today")).structuredContent, { sky: "clear" });
      } finally {
        changed = s.nextListChanged();
        await weather.stop();
      }
      await changed;
      assert.ok(!(await names(s.client)).includes("weather_Weather_Today"));
      assert.ok(greeter(), "the greeter is still up");
      assert.ok((await names(s.client)).includes("greeter_Greeter_Hello"));
    });

    it("with auth hooks, hides a denied endpoint and refuses to call it", async () => {
      const eve = await connect()({ deny: "greeter Greeter.Fail", token: "eve" });
      const admin = await connect()({ deny: "greeter Greeter.Fail", token: "admin" });
      try {
        const seen = await names(eve.client);
        assert.ok(seen.includes("greeter_Greeter_Hello"));
        assert.ok(!seen.includes("greeter_Greeter_Fail"), "hidden");
        const r = await call(eve.client, "greeter_Greeter_Fail", { name: "Ada" });
        assert.equal(r.isError, true);
        assert.equal((r.structuredContent as { error: { code: number } }).error.code, 403, "refused");
        assert.deepEqual((await call(eve.client, "greeter_Greeter_Hello", { name: "Eve" })).structuredContent, { msg: "Hello Eve" });
        assert.ok((await names(admin.client)).includes("greeter_Greeter_Fail"), "another account sees it");
        const err = (await call(admin.client, "greeter_Greeter_Fail", { name: "Ada" })).structuredContent as { error: { code: number } };
        assert.equal(err.error.code, 409, "and reaches the service");
      } finally {
        await eve.close();
        await admin.close();
      }
    });
  });
}

describe("MCP end to end", () => {
  const dir = mkdtempSync(join(tmpdir(), "micro-mcp-"));
  let server: RunningServer;
  let greeter: Service;
  let client: RpcClient;
  let http: HttpServer;
  const handlers: McpHttpHandler[] = [];
  let base = "";

  before(async () => {
    server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
    greeter = greeterService(server.registry);
    await greeter.start();
    client = new RpcClient({ registry: server.registry, transport: tcpTransport(), callDefaults: { retries: 0 } });
    // As the gateway mounts it: /mcp, and a second endpoint with the fake auth hooks.
    const plain = mcpHttpHandler(() => createMcpServer({ registry: server.registry, client, timeout: 3000 }));
    const authed = mcpHttpHandler(() => createMcpServer({ registry: server.registry, client, timeout: 3000, ...denyHooks("greeter Greeter.Fail") }));
    handlers.push(plain, authed);
    http = createServer((req, res) => (req.url?.startsWith("/mcp-auth") ? authed : plain)(req, res));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const h of handlers) await h.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
    await greeter.stop();
    await client.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const stdio: Connect = async (o = {}) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--conditions=micro-source", "--import", "tsx", "test/fixtures/mcp-serve.ts"],
      cwd: ROOT,
      env: {
        ...(process.env as Record<string, string>),
        MICRO_SERVER: server.address,
        MICRO_LOG_LEVEL: "warn",
        ...(o.deny ? { MCP_DENY: o.deny } : {}),
        ...(o.token ? { MICRO_TOKEN: o.token } : {}),
      },
      stderr: "inherit",
    });
    return connected(new Client({ name: "mcp-e2e", version: "1.0.0" }), transport);
  };
  const overHttp: Connect = async (o = {}) => {
    const url = new URL(o.deny ? "/mcp-auth" : "/mcp", base);
    const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
    return connected(new Client({ name: "mcp-e2e", version: "1.0.0" }), new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  };

  mcpSuite("stdio (micro mcp serve)", () => stdio, () => greeter, () => server.registry);
  mcpSuite("Streamable HTTP (/mcp)", () => overHttp, () => greeter, () => server.registry);
});
