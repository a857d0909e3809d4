// `npm start`: the main job on embedded defaults. Starts the helloworld greeter, calls it
// from a second process (found over mdns, no configuration), then stops the service.
// When the platform is present, it starts `micro server` and calls through the gateway too.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const root = new URL("..", import.meta.url).pathname;
const node = (file, env = {}) =>
  spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", file], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });

const service = node("examples/helloworld/service.ts");
createInterface({ input: service.stdout }).on("line", (l) => console.log(`[greeter] ${l}`));
const stop = () => service.kill("SIGTERM");
process.on("SIGINT", stop);

// Give discovery nothing to wait for: the caller retries until the greeter is registered.
let code = 1;
for (let attempt = 0; attempt < 50; attempt++) {
  const caller = node("examples/helloworld/caller.ts");
  let out = "";
  caller.stdout.on("data", (d) => (out += d));
  code = await new Promise((r) => caller.on("exit", (c) => r(c ?? 1)));
  if (code === 0) {
    process.stdout.write(out);
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
stop();
const exit = await new Promise((r) => service.on("exit", (c) => r(c)));
console.log(`greeter stopped (exit ${exit})`);
process.exit(code === 0 && exit === 0 ? 0 : 1);
