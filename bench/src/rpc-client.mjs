// The client side of rpc-2proc: calls Greeter.Hello on the server at ADDRESS with a fixed
// number of calls in flight, skipping discovery with { address } (as the raw node:net
// baseline does). One warm-up call opens the pooled connection first (Moleculer's client is
// connected before its clock starts, too).
// Usage: node rpc-client.mjs ADDRESS [calls=100000] [inflight=100]   prints one JSON line.
import { memoryRegistry, Service, silentLogger } from "@micro-ts/micro";

const address = process.argv[2];
const calls = Number(process.argv[3] || 100000);
const inflight = Number(process.argv[4] || 100);
if (!address) throw new Error("usage: rpc-client.mjs ADDRESS [calls] [inflight]");

const service = new Service({ name: "bench-client", registry: memoryRegistry(), logger: silentLogger() });
const client = service.client;
const req = { name: "Ada" };
const opts = { address };

const first = await client.call("greeter", "Greeter.Hello", req, opts);
if (first?.msg !== "Hello Ada") throw new Error("unexpected reply " + JSON.stringify(first));

let sent = 0, done = 0;
const t0 = process.hrtime.bigint();
await new Promise((resolve, reject) => {
  const next = () => {
    if (sent >= calls) return;
    sent++;
    client.call("greeter", "Greeter.Hello", req, opts).then(() => (++done === calls ? resolve() : next()), reject);
  };
  for (let i = 0; i < inflight; i++) next();
});
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ calls, inflight, seconds: +s.toFixed(3), callsPerSec: Math.round(calls / s) }));
await service.client.close();
process.exit(0);
