// micro env: which server the CLI talks to, kept in MICRO_CONFIG_DIR/config.json.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { micro } from "./cli-helpers.js";

test("env lists local by default, add and set switch the current env, json output for scripts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "micro-cli-env-"));
  const env = { MICRO_CONFIG_DIR: dir };
  try {
    let r = await micro(["env", "--output", "json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ name: "local", address: "127.0.0.1:8081", current: true }]);

    r = await micro(["env", "add", "staging", "10.1.2.3:8081"], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await micro(["env", "set", "staging"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /current env: staging \(10\.1\.2\.3:8081\)/);

    r = await micro(["env"], { env });
    assert.match(r.stdout, /^\*\s+staging\s+10\.1\.2\.3:8081$/m);
    assert.match(r.stdout, /^\s+local\s+127\.0\.0\.1:8081$/m);

    const saved = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { current: string };
    assert.equal(saved.current, "staging");

    r = await micro(["env", "delete", "staging"], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await micro(["env", "-o", "json"], { env });
    assert.deepEqual(JSON.parse(r.stdout), [{ name: "local", address: "127.0.0.1:8081", current: true }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
