/** Dynamic commands: `micro greeter say-hello --name=Ada --age 3` → Greeter.SayHello {"name":"Ada","age":3}. */

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** "say-hello" → "SayHello", "hello" → "Hello". */
export function toCamel(s: string): string {
  return s
    .split(/[-_]/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join("");
}

/** A flag's value as JSON: numbers, booleans, null, and `{...}`/`[...]` literals parsed; anything else a string. */
export function parseValue(v: string): unknown {
  if (v === "true") return true;
  if (v === "false") return false;
  if (v === "null") return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(v) && Number.isFinite(Number(v))) return Number(v);
  if ((v.startsWith("{") && v.endsWith("}")) || (v.startsWith("[") && v.endsWith("]"))) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    const next = o[k];
    if (typeof next !== "object" || next === null || Array.isArray(next)) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (last in o) {
    // A repeated flag collects its values: --tag=a --tag=b → ["a","b"].
    const prev = o[last];
    o[last] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  } else {
    o[last] = value;
  }
}

export interface DynamicArgs {
  /** Words before the first flag (e.g. ["say-hello"] or ["handler", "method"]). */
  words: string[];
  /** The request built from the flags. */
  request: Record<string, unknown>;
  /** Flags the CLI itself uses (--output, --server, --timeout, --help), not part of the request. */
  cli: { output?: string; server?: string; timeout?: number; help?: boolean };
}

const CLI_FLAGS = new Set(["output", "server", "timeout", "help"]);

/** Parses the argv after the service name. Throws UsageError on malformed flags. */
export function parseDynamic(argv: string[]): DynamicArgs {
  const words: string[] = [];
  const request: Record<string, unknown> = {};
  const cli: DynamicArgs["cli"] = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h") {
      cli.help = true;
      continue;
    }
    if (a === "-o") {
      const v = argv[++i];
      if (v === undefined) throw new UsageError("-o needs a value: text or json");
      cli.output = v;
      continue;
    }
    if (!a.startsWith("--")) {
      if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) throw new UsageError(`unknown flag ${a}: use --name=value`);
      if (Object.keys(request).length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(a)} after flags`);
      words.push(a);
      continue;
    }
    const body = a.slice(2);
    if (body === "") throw new UsageError("empty flag --");
    const eq = body.indexOf("=");
    let key: string;
    let raw: string | undefined;
    if (eq >= 0) {
      key = body.slice(0, eq);
      raw = body.slice(eq + 1);
    } else {
      key = body;
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        raw = next;
        i++;
      }
    }
    if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(key)) throw new UsageError(`invalid flag name --${key}`);
    if (CLI_FLAGS.has(key)) {
      if (key === "help") cli.help = raw === undefined ? true : raw !== "false";
      else if (raw === undefined) throw new UsageError(`--${key} needs a value`);
      else if (key === "timeout") {
        const n = Number(raw);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout must be a positive number of ms, got ${raw}`);
        cli.timeout = n;
      } else if (key === "output") cli.output = raw;
      else cli.server = raw;
      continue;
    }
    set(request, key, raw === undefined ? true : parseValue(raw));
  }
  return { words, request, cli };
}
