/**
 * A trace id set at the gateway (the HTTP caller's traceparent) reaches a service two hops
 * behind it, and `micro trace ID` (the CLI) prints the spans of that request across services.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { formatTraceparent, Service, serviceRegistry, silentLogger, type Context, type TraceResponse } from "@micro-ts/micro";
import { startServer } from "@micro-ts/server";
import { ROOT } from "./helpers.js";

const TRACE = "0af7651916cd43dd8448eb211c80319c";

it("a trace id set at the gateway reaches a service two hops away; micro trace prints the spans", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "micro-gw-trace-"));
  const server = await startServer({ dataDir, address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", dashboard: false, logger: silentLogger() });
  const registry = serviceRegistry({ address: server.address });
  const make = (name: string) => new Service({ name, registry, logger: silentLogger() });
  const front = make("front");
  const back = make("back");
  let seenAtBack: string | undefined;
  front.handle({ async hello(req: { name: string }) { return front.client.call("back", "Back.Hello", req); } }, { name: "Front" });
  back.handle(
    {
      async hello(req: { name: string }, ctx: Context) {
        seenAtBack = ctx.metadata["traceparent"];
        return { msg: `Hello ${req.name}` };
      },
    },
    { name: "Back" },
  );
  try {
    await front.start();
    await back.start();
    const rsp = await fetch(`http://${server.gatewayAddress}/front/hello`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: formatTraceparent(TRACE, "b7ad6b7169203331") },
      body: '{"name":"Ada"}',
    });
    assert.equal(rsp.status, 200, await rsp.clone().text());
    assert.deepEqual(await rsp.json(), { msg: "Hello Ada" });
    assert.ok(seenAtBack?.startsWith(`00-${TRACE}-`), `the back service saw ${seenAtBack}`);
    // both services recorded spans of that trace: front (server + client), back (server)
    const spans = [
      ...(await front.client.call<TraceResponse>("front", "Debug.Trace", { traceId: TRACE })).spans,
      ...(await front.client.call<TraceResponse>("back", "Debug.Trace", { traceId: TRACE })).spans,
    ];
    assert.deepEqual(spans.map((s) => `${s.service}:${s.kind}`).sort(), ["back:server", "front:client", "front:server"]);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const backServer = spans.find((s) => s.service === "back")!;
    assert.equal(byId.get(backServer.parentId!)?.kind, "client", "back's span is a child of front's client span");

    // the CLI prints the same three spans as one tree
    const cli = spawn(process.execPath, ["packages/cli/bin/micro.js", "--server", server.address, "trace", TRACE], {
      cwd: ROOT,
      env: { ...process.env, MICRO_CONFIG_DIR: join(dataDir, "cli") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    cli.stdout.on("data", (d: Buffer) => (out += d.toString()));
    cli.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => cli.on("exit", r));
    assert.equal(code, 0, err);
    for (const name of ["front Front.Hello", "back Back.Hello"]) assert.ok(out.includes(name), out);
    assert.equal(out.split("\n").filter((l) => /Front\.Hello|Back\.Hello/.test(l)).length, 3, out);
  } finally {
    await front.stop();
    await back.stop();
    await registry.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
