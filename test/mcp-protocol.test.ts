/**
 * Malformed traffic at the MCP transports: bytes that are not JSON-RPC get JSON-RPC errors and
 * the server keeps serving, over stdio (a raw `micro mcp serve` process) and HTTP (raw fetch).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { RpcClient, silentLogger, tcpTransport, type Service } from "@micro-ts/micro";
import { createMcpServer, mcpHttpHandler, startServer, type McpHttpHandler, type RunningServer } from "@micro-ts/server";
import { greeterService } from "./fixtures/mcp-services.js";
import { ROOT } from "./helpers.js";

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

describe("MCP protocol errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "micro-mcp-proto-"));
  let server: RunningServer;
  let greeter: Service;
  let client: RpcClient;
  let handler: McpHttpHandler;
  let http: HttpServer;
  let url = "";

  before(async () => {
    server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger() });
    greeter = greeterService(server.registry);
    await greeter.start();
    client = new RpcClient({ registry: server.registry, transport: tcpTransport(), callDefaults: { retries: 0 } });
    handler = mcpHttpHandler(() => createMcpServer({ registry: server.registry, client }), { allowedOrigins: ["http://localhost:6274"] });
    http = createServer(handler);
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  });
  after(async () => {
    await handler.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
    await greeter.stop();
    await client.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stdio: answers lines that are not JSON or not JSON-RPC, then serves the next request", async () => {
    const proc = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", "test/fixtures/mcp-serve.ts"], {
      cwd: ROOT,
      env: { ...process.env, MICRO_SERVER: server.address, MICRO_LOG_LEVEL: "warn" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
    try {
      const lines: Record<string, unknown>[] = [];
      let wake: (() => void) | undefined;
      createInterface({ input: proc.stdout }).on("line", (l) => {
        lines.push(JSON.parse(l) as Record<string, unknown>);
        wake?.();
      });
      const next = async () => {
        while (lines.length === 0) await new Promise<void>((r) => (wake = r));
        return lines.shift()!;
      };
      proc.stdin.write("this is not json\n");
      proc.stdin.write('{"hello":"world"}\n');
      proc.stdin.write(`${JSON.stringify(INIT)}\n`);
      const parse = await next();
      assert.equal((parse["error"] as { code: number }).code, -32700);
      const invalid = await next();
      assert.equal((invalid["error"] as { code: number }).code, -32600);
      const init = await next();
      assert.equal(init["id"], 1);
      assert.deepEqual((init["result"] as { capabilities: unknown }).capabilities, { tools: { listChanged: true } });
      proc.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
      proc.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "greeter_Greeter_Hello", arguments: { name: "Ada" } } })}\n`);
      const called = await next();
      assert.equal(called["id"], 2);
      assert.deepEqual((called["result"] as { structuredContent: unknown }).structuredContent, { msg: "Hello Ada" });
    } finally {
      proc.stdin.end();
    }
    assert.equal(await exited, 0, "the server exits cleanly when stdin closes");
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } });

  it("HTTP: answers a body that is not JSON with a parse error, a request without a session with 400, an unknown session with 404", async () => {
    const bad = await post("{oops");
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: number } }).error.code, -32700);
    const noSession = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    assert.equal(noSession.status, 400);
    assert.equal(((await noSession.json()) as { error: { code: number } }).error.code, -32600);
    const unknown = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { "mcp-session-id": "no-such-session" });
    assert.equal(unknown.status, 404);
    const badAuth = await post(JSON.stringify(INIT), { authorization: "Basic YWRhOnB3" });
    assert.equal(badAuth.status, 401);
  });

  it("HTTP: refuses browser origins it was not told to allow", async () => {
    const r = await post(JSON.stringify(INIT), { origin: "http://evil.example" });
    assert.equal(r.status, 403);
    await r.body?.cancel();
  });

  it("HTTP: a session survives malformed requests, and DELETE ends it", async () => {
    const c = new Client({ name: "proto", version: "1" });
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { origin: "http://localhost:6274" } } });
    await c.connect(transport);
    const before = handler.sessions;
    assert.ok(before >= 1);
    const sid = transport.sessionId!;
    const bad = await post("[1, 2", { "mcp-session-id": sid, origin: "http://localhost:6274" });
    assert.equal(bad.status, 400);
    const notRpc = await post(JSON.stringify({ hello: "world" }), { "mcp-session-id": sid, origin: "http://localhost:6274", "mcp-protocol-version": LATEST_PROTOCOL_VERSION });
    assert.ok(notRpc.status >= 400 && notRpc.status < 500, `status ${notRpc.status}`);
    await notRpc.body?.cancel();
    const r = await c.callTool({ name: "greeter_Greeter_Hello", arguments: { name: "Ada" } });
    assert.deepEqual(r.structuredContent, { msg: "Hello Ada" });
    await transport.terminateSession();
    await c.close();
    assert.equal(handler.sessions, before - 1);
  });
});
