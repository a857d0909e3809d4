// The gateway in front of a service in another process: calls, streams, and a 503 once the
// process is killed while its registration lingers.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryRegistry, RpcClient, tcpTransport, type ServiceRecord } from "@micro-ts/micro";
import { createGateway, type Gateway } from "@micro-ts/server";
import WebSocket from "ws";
import { json, req } from "./fixtures/gateway-stack.js";
import { startTs, type Child } from "./helpers.js";

describe("gateway → service in a child process", () => {
  let child: Child;
  let gateway: Gateway;
  let client: RpcClient;
  let base: string;
  before(async () => {
    child = startTs("test/fixtures/gateway-service.ts");
    const line = await child.waitFor((l) => l["ready"] === true);
    const registry = memoryRegistry();
    await registry.register(line["record"] as ServiceRecord);
    client = new RpcClient({ registry, transport: tcpTransport() });
    gateway = createGateway({ client, registry, timeout: 3000 });
    base = `http://${await gateway.listen("127.0.0.1:0")}`;
  });
  after(async () => {
    child.proc.kill("SIGKILL");
    await gateway.close();
    await client.close();
  });

  it("calls it over HTTP and streams from it over a WebSocket", async () => {
    const r = await req(base, "/remote/hello", json({ name: "Ada" }));
    assert.equal(r.status, 200);
    assert.equal(r.body["msg"], "Hello Ada");
    assert.equal(r.body["pid"], child.proc.pid);
    const ws = new WebSocket(base.replace("http:", "ws:") + "/remote/ticks");
    const got: unknown[] = [];
    ws.on("message", (d) => got.push(JSON.parse(String(d))));
    ws.on("open", () => ws.send('{"to":3}'));
    const code = await new Promise<number>((resolve) => ws.on("close", resolve));
    assert.equal(code, 1000);
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it("answers 503 once the process is dead, and keeps serving", async () => {
    child.proc.kill("SIGKILL");
    await child.exited;
    const r = await req(base, "/remote/hello", json({ name: "Ada" }));
    assert.equal(r.status, 503);
    assert.equal(r.body.code, 503);
    assert.equal((await req(base, "/health")).status, 200);
  });
});
