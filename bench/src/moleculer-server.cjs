// Moleculer's counterpart of greeter-server.mjs for cold start and idle RSS: a broker with
// the greeter service and the TCP transporter (UDP discovery off, loopback only).
const { ServiceBroker } = require("moleculer");
const port = 20000 + Math.floor(Math.random() * 20000);
const b = new ServiceBroker({ logger: false, metrics: false, tracing: false, nodeID: "server",
  transporter: { type: "TCP", options: { udpDiscovery: false, port, urls: [] } } });
b.createService({ name: "greeter", actions: { hello(ctx) { return { msg: "Hello " + ctx.params.name }; } } });
b.start().then(() => {
  console.log(JSON.stringify({ event: "registered", address: `127.0.0.1:${port}`, sinceStartMs: +performance.now().toFixed(1) }));
  const idleMs = Number(process.env.BENCH_IDLE_MS || 0);
  if (idleMs > 0) setTimeout(() => {
    if (typeof globalThis.gc === "function") globalThis.gc();
    const m = process.memoryUsage();
    console.log(JSON.stringify({ event: "idle", rss: m.rss, heapUsed: m.heapUsed, gc: typeof globalThis.gc === "function" }));
  }, idleMs);
});
process.on("SIGTERM", () => b.stop().finally(() => process.exit(0)));
