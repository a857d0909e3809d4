// rpc-inproc: both services in one process over the memory transport and a memory registry
// (discovery through the cached registry on every call, as Moleculer's local calls do).
// Usage: node rpc-inproc.mjs [calls=1000000] [inflight=100]   prints one JSON line.
import { memoryBroker, memoryRegistry, memoryTransport, Service, silentLogger } from "@micro-ts/micro";

const calls = Number(process.argv[2] || 1000000);
const inflight = Number(process.argv[3] || 100);

class Greeter {
  async hello(req) {
    return { msg: "Hello " + req.name };
  }
}
const registry = memoryRegistry();
const transport = memoryTransport();
const broker = memoryBroker();
const logger = silentLogger();
const server = new Service({ name: "greeter", registry, transport, broker, logger });
server.handle(new Greeter());
await server.start();
const caller = new Service({ name: "caller", registry, transport, broker, logger });
const client = caller.client;
const req = { name: "Ada" };

const first = await client.call("greeter", "Greeter.Hello", req);
if (first?.msg !== "Hello Ada") throw new Error("unexpected reply " + JSON.stringify(first));

let sent = 0, done = 0;
const t0 = process.hrtime.bigint();
await new Promise((resolve, reject) => {
  const next = () => {
    if (sent >= calls) return;
    sent++;
    client.call("greeter", "Greeter.Hello", req).then(() => (++done === calls ? resolve() : next()), reject);
  };
  for (let i = 0; i < inflight; i++) next();
});
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ calls, inflight, seconds: +s.toFixed(3), callsPerSec: Math.round(calls / s) }));
await caller.stop();
await server.stop();
process.exit(0);
