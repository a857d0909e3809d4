/** `micro server` serves MCP at the gateway's /mcp, readiness at /ready and Prometheus text at /metrics. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Service, serviceRegistry, silentLogger } from "@micro-ts/micro";
import { startServer } from "@micro-ts/server";

it("the gateway serves MCP at /mcp: tools from the registry, calls through the client", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "micro-mcp-gw-"));
  const server = await startServer({ dataDir, address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", dashboard: false, logger: silentLogger() });
  const registry = serviceRegistry({ address: server.address });
  const svc = new Service({ name: "mcpgw", registry, logger: silentLogger() });
  svc.handle({ async hello(req: { name: string }) { return { msg: `Hello ${req.name}` }; } }, { name: "Greeter" });
  await svc.start();
  const client = new Client({ name: "test", version: "1.0.0" });
  try {
    const ready = await fetch(`http://${server.gatewayAddress}/ready`);
    assert.equal(ready.status, 200);
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://${server.gatewayAddress}/mcp`)));
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === "mcpgw_Greeter_Hello"), tools.map((t) => t.name).join(","));
    const r = await client.callTool({ name: "mcpgw_Greeter_Hello", arguments: { name: "Ada" } });
    assert.deepEqual(r.structuredContent, { msg: "Hello Ada" });
    // /metrics: the services' stats as Prometheus text, parsed with a real exposition parser
    const m = await fetch(`http://${server.gatewayAddress}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const parse = createRequire(import.meta.url)("parse-prometheus-text-format") as (t: string) => { name: string; metrics: { value?: string; labels?: Record<string, string> }[] }[];
    const families = parse(await m.text());
    const total = families.find((f) => f.name === "micro_requests_total");
    const hello = total?.metrics.find((x) => x.labels?.["service"] === "mcpgw" && x.labels?.["endpoint"] === "Greeter.Hello");
    assert.ok(hello && Number(hello.value) >= 1, JSON.stringify(total));
  } finally {
    await client.close();
    await svc.stop();
    await registry.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
