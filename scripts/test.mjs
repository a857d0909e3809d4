// Runs every *.test.ts under packages/, plugins/, test/ and examples/ with node:test through tsx.
// Usage: node scripts/test.mjs [path-filter ...]
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = ["packages", "plugins", "test", "examples"];
const skipDirs = new Set(["node_modules", "dist", ".git", "template"]);

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (skipDirs.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts") && !name.endsWith(".types.test.ts")) out.push(p);
  }
}

const files = [];
for (const r of roots) walk(join(root, r), files);
const filters = process.argv.slice(2);
const chosen = files
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (chosen.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const args = [
  "--conditions=micro-source",
  "--import",
  "tsx",
  "--test",
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`,
  "--test-timeout=120000",
  ...chosen,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
