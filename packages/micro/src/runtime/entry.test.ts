import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isMicroError } from "../errors/index.js";
import { fileFromStartScript, findEntry } from "./entry.js";
import { Ring } from "./ring.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "micro-entry-"));
});
after(() => rm(dir, { recursive: true, force: true }));

async function svc(name: string, files: Record<string, string>): Promise<string> {
  const d = join(dir, name);
  for (const [f, body] of Object.entries(files)) {
    await mkdir(join(d, f, ".."), { recursive: true });
    await writeFile(join(d, f), body);
  }
  return d;
}

test("package.json main wins over conventional files", async () => {
  const d = await svc("a", { "package.json": '{"name":"a","main":"server.ts"}', "server.ts": "", "main.ts": "" });
  const e = await findEntry(d);
  assert.equal(e.file, join(d, "server.ts"));
  assert.equal(e.packageName, "a");
});

test("the file a start script runs is the entry when main is absent", async () => {
  const d = await svc("b", { "package.json": '{"scripts":{"start":"node --import tsx src/app.ts"}}', "src/app.ts": "" });
  assert.equal((await findEntry(d)).file, join(d, "src/app.ts"));
});

test("falls back to main.ts, index.ts, src/main.ts", async () => {
  const d = await svc("c", { "src/main.ts": "" });
  assert.equal((await findEntry(d)).file, join(d, "src/main.ts"));
});

test("a directory without a service is a 400 that says what was looked for", async () => {
  const d = await svc("d", { "README.md": "nothing" });
  await assert.rejects(findEntry(d), (err) => isMicroError(err) && err.code === 400 && /main\.ts/.test(err.detail));
  await assert.rejects(findEntry(join(dir, "missing")), (err) => isMicroError(err) && err.code === 400);
});

test("fileFromStartScript skips flags and finds the script", () => {
  assert.equal(fileFromStartScript("tsx watch main.ts"), "main.ts");
  assert.equal(fileFromStartScript("node --conditions=x --import tsx src/main.ts --port 1"), "src/main.ts");
  assert.equal(fileFromStartScript("next start"), undefined);
});

test("the ring keeps the newest items, oldest first", () => {
  const r = new Ring<number>(3);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.last(), [3, 4, 5]);
  assert.deepEqual(r.last(2), [4, 5]);
  assert.deepEqual(r.last(10), [3, 4, 5]);
  assert.throws(() => new Ring(0), RangeError);
});
