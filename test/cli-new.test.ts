// micro new: each template scaffolds a project that typechecks and whose own tests pass.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { micro } from "./cli-helpers.js";
import { ROOT } from "./helpers.js";

const run = promisify(execFile);
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "micro-new-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Links this workspace's framework and tools into the project instead of installing from the registry. */
async function link(project: string): Promise<void> {
  await mkdir(join(project, "node_modules", "@micro-ts"), { recursive: true });
  await mkdir(join(project, "node_modules", "@types"), { recursive: true });
  await symlink(join(ROOT, "packages/micro"), join(project, "node_modules/@micro-ts/micro"), "dir");
  await symlink(join(ROOT, "node_modules/@types/node"), join(project, "node_modules/@types/node"), "dir");
  await symlink(join(ROOT, "node_modules/tsx"), join(project, "node_modules/tsx"), "dir");
}

for (const template of ["basic", "pubsub", "crud"]) {
  test(`micro new --template ${template} typechecks and its tests pass`, async () => {
    const name = `svc-${template}`;
    const r = await micro(["new", name, "--template", template], { cwd: dir, env: { MICRO_CONFIG_DIR: dir } });
    assert.equal(r.code, 0, r.stderr);
    const project = join(dir, name);
    const pkg = JSON.parse(await readFile(join(project, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    assert.equal(pkg["dependencies"]?.["@micro-ts/micro"], "^0.1.0");
    assert.match(pkg["scripts"]?.["start"] ?? "", /main\.ts/);
    assert.match(await readFile(join(project, "README.md"), "utf8"), /npm install/);
    await link(project);
    // The workspace package exports its sources under the "micro-source" condition (no build).
    await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", project, "--customConditions", "micro-source"], { cwd: project });
    // Without NODE_TEST_CONTEXT the child reports on its own instead of to this runner.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const t = await run(process.execPath, ["--conditions=micro-source", "--import", "tsx", "--test", "--test-reporter=tap", "handler.test.ts"], { cwd: project, env });
    assert.match(t.stdout, /# fail 0/);
    assert.doesNotMatch(t.stdout, /# pass 0\b/);
  });
}

test("micro new refuses a non-empty directory and a bad name", async () => {
  await mkdir(join(dir, "taken"), { recursive: true });
  await micro(["new", "taken/inner"], { cwd: dir, env: { MICRO_CONFIG_DIR: dir } });
  const again = await micro(["new", "taken"], { cwd: dir, env: { MICRO_CONFIG_DIR: dir } });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
  const bad = await micro(["new", "Bad_Name"], { cwd: dir, env: { MICRO_CONFIG_DIR: dir } });
  assert.equal(bad.code, 2);
});
