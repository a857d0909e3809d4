// The idle-RSS reference: a bare node:http JSON server, measured like greeter-server.mjs.
import http from "node:http";

const srv = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const out = JSON.stringify({ msg: "Hello " + (body ? JSON.parse(body).name : "") });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
    res.end(out);
  });
});
srv.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ event: "registered", address: `127.0.0.1:${srv.address().port}`, sinceStartMs: +performance.now().toFixed(1) }));
  const idleMs = Number(process.env.BENCH_IDLE_MS || 0);
  if (idleMs > 0) {
    setTimeout(() => {
      if (typeof globalThis.gc === "function") globalThis.gc();
      const m = process.memoryUsage();
      console.log(JSON.stringify({ event: "idle", rss: m.rss, heapUsed: m.heapUsed, gc: typeof globalThis.gc === "function" }));
    }, idleMs);
  }
});
process.on("SIGTERM", () => process.exit(0));
