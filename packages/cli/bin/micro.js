#!/usr/bin/env node
// The `micro` binary: runs the CLI's TypeScript sources directly (no build step) through tsx.
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

const CONDITION = "micro-source";
// Workspace packages export their TypeScript sources under the "micro-source" condition; resolve
// with it here, and hand it to child processes (services started by `micro run`) through NODE_OPTIONS.
if (!process.execArgv.some((a) => a.includes(CONDITION))) {
  const hook = `export async function resolve(s, c, next) { return next(s, c.conditions.includes("${CONDITION}") ? c : { ...c, conditions: [...c.conditions, "${CONDITION}"] }); }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --conditions=${CONDITION}`.trim();
}
registerTsx();
const { main } = await import("../src/main.ts");
const code = await main(process.argv.slice(2));
// A CLI ends when its command does, whatever a library left open (stdout is synchronous for files and pipes).
process.exit(code);
