// A greeter service in its own process: the server side of rpc-2proc, and the subject of
// the cold-start and idle-RSS measurements. Plain JS so that it runs both on the compiled
// package (`node greeter-server.mjs`: dist) and on the TypeScript source
// (`node --conditions=micro-source --import tsx greeter-server.mjs`).
//
// Prints one JSON line per event on stdout:
//   {"event":"registered","address":"127.0.0.1:PORT","sinceStartMs":N}  once start() resolved
//   {"event":"idle","rss":BYTES,...}                                       with BENCH_IDLE_MS set
// Then serves until killed.
import { memoryRegistry, Service, silentLogger } from "@micro-ts/micro";

class Greeter {
  async hello(req) {
    return { msg: "Hello " + req.name };
  }
}

// Default transport (tcp) and broker (http, lazy: it listens only once something subscribes).
// The registry is the in-process memory one: the client skips discovery with { address },
// like the raw node:net baseline, and nothing leaves loopback.
const service = new Service({ name: "greeter", registry: memoryRegistry(), logger: silentLogger() });
service.handle(new Greeter());
await service.start();
console.log(JSON.stringify({ event: "registered", address: service.server.address, sinceStartMs: +performance.now().toFixed(1) }));

const idleMs = Number(process.env.BENCH_IDLE_MS || 0);
if (idleMs > 0) {
  setTimeout(() => {
    if (typeof globalThis.gc === "function") globalThis.gc();
    const m = process.memoryUsage();
    console.log(JSON.stringify({ event: "idle", rss: m.rss, heapUsed: m.heapUsed, gc: typeof globalThis.gc === "function" }));
  }, idleMs);
}
const stop = () => service.stop().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
