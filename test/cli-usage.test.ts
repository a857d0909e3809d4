// Wrong arguments: a one-line error, the command's usage, exit code 2.
import { strict as assert } from "node:assert";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { micro } from "./cli-helpers.js";

let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), "micro-cli-usage-"));
});
after(() => rm(home, { recursive: true, force: true }));

const cases: [string[], RegExp][] = [
  [["new"], /^usage: micro new /],
  [["new", "svc", "--template", "nope"], /^usage: micro new /],
  [["call", "greeter"], /^usage: micro call /],
  [["call", "greeter", "Greeter.Hello", "{bad json"], /^usage: micro call /],
  [["logs"], /^usage: micro logs /],
  [["logs", "x", "-n", "many"], /^usage: micro logs /],
  [["run"], /^usage: micro run /],
  [["run", "dir", "--env", "NOEQUALS"], /^usage: micro run /],
  [["kill"], /^usage: micro kill /],
  [["update"], /^usage: micro update /],
  [["describe"], /^usage: micro describe /],
  [["health"], /^usage: micro health /],
  [["stream", "greeter"], /^usage: micro stream /],
  [["publish", "topic"], /^usage: micro publish /],
  [["publish", "topic", "{nope"], /^usage: micro publish /],
  [["subscribe"], /^usage: micro subscribe /],
  [["store", "read"], /^usage: micro store read /],
  [["store", "write", "k"], /^usage: micro store write /],
  [["config", "set", "a.b"], /^usage: micro config set /],
  [["env", "add", "dev"], /^usage: micro env add /],
  [["env", "add", "dev", "not-an-address"], /^usage: micro env add /],
  [["env", "set", "missing"], /^usage: micro env set /],
  [["server", "--address", "nope"], /^usage: micro server /],
  [["services", "--bogus"], /^usage: micro services /],
  [["--output", "yaml", "services"], /^usage: micro /],
  [["status", "a", "b"], /^usage: micro status /],
];

for (const [args, usage] of cases) {
  test(`micro ${args.join(" ")} exits 2 with a one-line error and the usage`, async () => {
    const r = await micro(args, { env: { MICRO_CONFIG_DIR: home } });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, /^micro: \S/);
    assert.match(lines[1]!, usage);
    assert.equal(r.stdout, "");
  });
}

test("a command that needs the server says how to start it when none answers", async () => {
  // A port that was free a moment ago: nothing listens there.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const r = await micro(["services"], { env: { MICRO_CONFIG_DIR: home, MICRO_SERVER: `127.0.0.1:${port}` } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot reach the micro server at 127.0.0.1:${port}.*micro server`));
});

test("--help exits 0 and lists the commands", async () => {
  const r = await micro(["--help"], { env: { MICRO_CONFIG_DIR: home } });
  assert.equal(r.code, 0);
  for (const c of ["server", "new", "run", "status", "logs", "kill", "update", "services", "describe", "call", "stream", "publish", "subscribe", "store", "config", "health", "env"]) {
    assert.match(r.stdout, new RegExp(`^  ${c}\\b`, "m"), c);
  }
});
