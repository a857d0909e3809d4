// Paths, merging and redaction over plain JSON-like trees.
import { redact } from "../logger/logger.js";

export type Tree = Record<string, unknown>;

export function isObject(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function split(path: string): string[] {
  return path === "" ? [] : path.split(".");
}

export function getPath(t: unknown, path: string): unknown {
  let cur = t;
  for (const k of split(path)) {
    if (!isObject(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function setPath(t: Tree, path: string, v: unknown): void {
  const keys = split(path);
  const last = keys.pop();
  if (last === undefined) throw new Error("empty path");
  let cur = t;
  for (const k of keys) {
    const next = cur[k];
    cur = isObject(next) ? next : (cur[k] = {}) as Tree;
  }
  cur[last] = v;
}

export function deletePath(t: Tree, path: string): void {
  const keys = split(path);
  const last = keys.pop();
  if (last === undefined) return;
  const parent = getPath(t, keys.join("."));
  if (isObject(parent)) delete parent[last];
}

/** Deep-merges objects; arrays and scalars from `b` replace those in `a`. */
export function merge(a: Tree, b: Tree): Tree {
  const out: Tree = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? merge(prev, v) : v;
  }
  return out;
}

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

const isSecretKey = (k: string) => redact({ [k]: "x" })[k] !== "x";

/** True when the path, or one of its ancestors, is listed or has a secret-looking key. */
export function isSecret(path: string, listed: ReadonlySet<string>): boolean {
  const keys = split(path);
  for (let i = 1; i <= keys.length; i++) {
    if (listed.has(keys.slice(0, i).join(".")) || isSecretKey(keys[i - 1]!)) return true;
  }
  return false;
}

export function redactTree(v: unknown, path: string, listed: ReadonlySet<string>): unknown {
  if (path !== "" && isSecret(path, listed) && v !== undefined && v !== "") return "[redacted]";
  if (!isObject(v)) return clone(v);
  const out: Tree = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactTree(x, path === "" ? k : `${path}.${k}`, listed);
  return out;
}
