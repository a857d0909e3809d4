import type { Value } from "./config.js";
import { clone, isObject, isSecret, redactTree } from "./tree.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "5s", "1h30m", "1.5s"; undefined when it is not a duration. */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched > 0 && matched === s.length ? total : undefined;
}

export function makeValue(v: unknown, path: string, secrets: ReadonlySet<string>): Value {
  const secret = () => v !== undefined && isSecret(path, secrets);
  return {
    string: (def = "") =>
      typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : def,
    number: (def = 0) => {
      if (typeof v === "number" && Number.isFinite(v)) return v;
      if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
      return def;
    },
    bool: (def = false) => {
      if (typeof v === "boolean") return v;
      if (v === "true" || v === "1" || v === 1) return true;
      if (v === "false" || v === "0" || v === 0) return false;
      return def;
    },
    stringArray: (def = []) => {
      if (Array.isArray(v)) return v.map((x) => (typeof x === "string" ? x : JSON.stringify(x)));
      if (typeof v === "string") return v === "" ? [] : v.split(",").map((s) => s.trim());
      return def;
    },
    map: () => (isObject(v) ? clone(v) : {}),
    duration: (def = 0) => {
      if (typeof v === "number" && Number.isFinite(v)) return v;
      if (typeof v === "string") return parseDuration(v.trim()) ?? def;
      return def;
    },
    exists: () => v !== undefined,
    raw: () => clone(v),
    json: () => JSON.stringify(v) ?? "null",
    toString: () => {
      if (secret()) return "[redacted]";
      return typeof v === "string" ? v : (JSON.stringify(v) ?? "");
    },
    toJSON: () => redactTree(v, path, secrets),
  };
}
