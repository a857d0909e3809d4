// Our API gateway in front of a greeter in a second process (like the peers' moleculer-gateway.cjs:
// gateway process → service process over the tcp transport). Serves POST /greeter/hello.
// Usage: node gateway-server.mjs [port=0]  — prints "ready <port>" once the route is live.
// BENCH_GATEWAY_AUTH=1: the gateway requires a token (verified locally against the auth's
// public keys, rules checked in process); an account granted greeter gets one, printed as
// "token <jwt>" on the line after "ready".
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { localVerifier, memoryRegistry, memoryStore, newAuth, RpcClient, tcpTransport } from "@micro-ts/micro";
import { createGateway, gatewayAuthorize } from "@micro-ts/server";

const port = Number(process.argv[2] || 0);
const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL("greeter-server.mjs", import.meta.url))], {
  stdio: ["ignore", "pipe", "inherit"],
});
const registered = await new Promise((resolve, reject) => {
  child.once("exit", (code) => reject(new Error(`greeter exited ${code}`)));
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line.startsWith("{") && JSON.parse(line).event === "registered") resolve(JSON.parse(line));
  });
});

// The greeter's own registry is in its process: register its node here, as a shared registry would.
const registry = memoryRegistry();
await registry.register({
  name: "greeter",
  version: "latest",
  endpoints: [{ name: "Greeter.Hello", request: null, response: null, metadata: { stream: "false" } }],
  nodes: [{ id: "greeter-bench", address: registered.address }],
});
const client = new RpcClient({ registry, transport: tcpTransport() });
let auth, token;
if (process.env.BENCH_GATEWAY_AUTH === "1") {
  auth = newAuth({ store: memoryStore() });
  await auth.generate("bench", { secret: "bench-secret-1", scopes: ["greeter.user"] });
  await auth.grant({ id: "bench-greeter", scope: "greeter.user", resource: { type: "service", name: "greeter", endpoint: "*" }, access: "granted", priority: 0 });
  token = (await auth.token({ id: "bench", secret: "bench-secret-1" })).accessToken;
}
const gateway = createGateway({
  client,
  registry,
  ...(auth ? { authorize: gatewayAuthorize({ auth, verifier: localVerifier({ keys: () => auth.publicKeys() }) }) } : {}),
});
const address = await gateway.listen(`127.0.0.1:${port}`);
console.log(`ready ${address.split(":").pop()}${token ? `\ntoken ${token}` : ""}`);

const stop = () => {
  child.kill("SIGTERM");
  void gateway
    .close()
    .then(() => auth?.close())
    .finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
