// The dashboard listener of `micro server`: static files (content types, SPA fallback, no path
// traversal), the gateway mounted under /api, and POST /api/debug.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createLogger, Service } from "@micro-ts/micro";
import { dashboardStatic, startServer, type RunningServer } from "../packages/server/src/server.js";

const silent = () => createLogger({ level: "silent" });

/** Sends a raw request line, so the path reaches the server exactly as written (no client normalization). */
function raw(address: string, path: string, method = "GET"): Promise<{ status: number; headers: string; body: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => s.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = "";
    s.on("data", (d: Buffer) => (data += d.toString("utf8")));
    s.on("error", reject);
    s.on("end", () => {
      const [head = "", body = ""] = data.split("\r\n\r\n", 2);
      resolve({ status: Number(head.split(" ")[1]), headers: head.toLowerCase(), body });
    });
  });
}

describe("dashboard static files", () => {
  let dir: string;
  let server: Server;
  let address: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "micro-dash-static-"));
    const www = join(dir, "www");
    mkdirSync(join(www, "assets"), { recursive: true });
    writeFileSync(join(www, "index.html"), "<!doctype html><title>dash</title>");
    writeFileSync(join(www, "assets", "app-1234.js"), "console.log(1)");
    writeFileSync(join(www, "assets", "app-1234.css"), "body{}");
    writeFileSync(join(www, "logo.svg"), "<svg/>");
    writeFileSync(join(dir, "secret.txt"), "do not serve");
    server = createServer(dashboardStatic(www));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const a = server.address() as { port: number };
    address = `127.0.0.1:${a.port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves files with their content types, hashed assets as immutable", async () => {
    const js = await raw(address, "/assets/app-1234.js");
    assert.equal(js.status, 200);
    assert.match(js.headers, /content-type: text\/javascript/);
    assert.match(js.headers, /immutable/);
    assert.equal(js.body, "console.log(1)");
    assert.match((await raw(address, "/assets/app-1234.css")).headers, /content-type: text\/css/);
    assert.match((await raw(address, "/logo.svg")).headers, /content-type: image\/svg\+xml/);
    const index = await raw(address, "/");
    assert.equal(index.status, 200);
    assert.match(index.headers, /content-type: text\/html/);
    assert.match(index.headers, /x-content-type-options: nosniff/);
  });

  it("answers unknown routes with index.html (the app routes them) and missing assets with 404", async () => {
    const spa = await raw(address, "/services/greeter");
    assert.equal(spa.status, 200);
    assert.match(spa.body, /<title>dash<\/title>/);
    assert.equal((await raw(address, "/assets/missing.js")).status, 404);
  });

  it("refuses path traversal in every spelling", async () => {
    for (const p of ["/../../etc/passwd", "/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/a%00.js"]) {
      const r = await raw(address, p);
      assert.ok(r.status === 400 || r.status === 404, `${p} → ${r.status}`);
      assert.doesNotMatch(r.body, /do not serve|root:/, p);
    }
  });

  it("allows only GET and HEAD", async () => {
    assert.equal((await raw(address, "/", "POST")).status, 405);
    const head = await raw(address, "/assets/app-1234.js", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  });
});

describe("dashboard listener of micro server", () => {
  let dir: string;
  let server: RunningServer;
  let svc: Service;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "micro-dash-server-"));
    server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", logger: silent() });
    process.env["MICRO_SERVER"] = server.address;
    svc = new Service({ name: "echo", logger: silent() });
    svc.handle({ async say(req: { text: string }) { return { text: req.text }; } }, { name: "Echo" });
    await svc.start();
  });
  after(async () => {
    await svc.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown) => {
    const r = await fetch(`http://${server.dashboardAddress}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  it("listens on a free port when the gateway does, never on a fixed one", () => {
    assert.match(server.dashboardAddress, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(server.dashboardAddress, "127.0.0.1:8082");
  });

  it("mounts the gateway under /api on the same origin", async () => {
    const r = await post("/api/rpc", { service: "echo", endpoint: "Echo.Say", request: { text: "hi" } });
    assert.deepEqual(r, { status: 200, json: { text: "hi" } });
    assert.equal((await post("/api/echo/echo/say", { text: "path" })).json["text"], "path");
    assert.equal((await post("/api/rpc", { service: "nobody", endpoint: "X.Y" })).status, 404);
  });

  it("routes Debug calls through /api/debug, and only Debug calls to listed nodes", async () => {
    const h = await post("/api/debug", { service: "echo", endpoint: "Debug.Health" });
    // a core without the debug domain answers 404/500 here; the dashboard shows "n/a" then
    if (h.status === 200) assert.equal(h.json["status"], "ok");
    assert.equal((await post("/api/debug", { service: "echo", endpoint: "Echo.Say", request: { text: "x" } })).status, 400);
    assert.equal((await post("/api/debug", { service: "echo", endpoint: "Debug.Health", address: "10.0.0.1:1" })).status, 404);
  });
});
