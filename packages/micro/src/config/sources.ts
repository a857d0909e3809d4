// The built-in config sources: defaults in code, a file, the environment, memory.
import { watch as fsWatch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { badRequest, notFound } from "../errors/errors.js";
import type { Source } from "./config.js";
import { jsonErrorOffset } from "./json-position.js";
import { clone, deletePath, isObject, setPath, type Tree } from "./tree.js";

const ID = "micro.config";

/** Values written in code: the lowest layer, usually first. */
export function defaultsSource(values: Tree): Source {
  const copy = clone(values);
  return { name: "defaults", read: () => Promise.resolve(clone(copy)) };
}

export interface MemorySource extends Source {
  set(path: string, v: unknown): void;
  delete(path: string): void;
}

/** A tree held in memory that code changes with `set`/`delete`; watchers see each change. */
export function memorySource(initial: Tree = {}, name = "memory"): MemorySource {
  const data = clone(initial);
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  return {
    name,
    read: () => Promise.resolve(clone(data)),
    watch(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    set(path, v) {
      setPath(data, path, clone(v));
      changed();
    },
    delete(path) {
      deletePath(data, path);
      changed();
    },
  };
}

export interface EnvSourceOptions {
  /** @default "MICRO_CONFIG_" */
  prefix?: string;
  /** @default process.env */
  env?: Record<string, string | undefined>;
}

/**
 * `MICRO_CONFIG_DB_HOST=x` → `db.host = "x"`: the rest of the name is lower-cased and each `_`
 * nests a level (`__` stands for a literal `_`). Values that parse as JSON numbers or booleans
 * become those; everything else stays a string.
 */
export function envSource(opts: EnvSourceOptions = {}): Source {
  const prefix = opts.prefix ?? "MICRO_CONFIG_";
  return {
    name: "env",
    read: () => {
      const env = opts.env ?? process.env;
      const out: Tree = {};
      for (const [k, raw] of Object.entries(env)) {
        if (!k.startsWith(prefix) || raw === undefined || k.length === prefix.length) continue;
        const path = k
          .slice(prefix.length)
          .toLowerCase()
          .split("__")
          .map((p) => p.split("_").join("."))
          .join("_");
        if (path.split(".").some((p) => p === "")) continue;
        setPath(out, path, envValue(raw));
      }
      return Promise.resolve(out);
    },
  };
}

function envValue(raw: string): unknown {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === "number" || typeof v === "boolean") return v;
  } catch {
    // a plain string
  }
  return raw;
}

export interface FileSourceOptions {
  /**
   * Turns the file's text into a tree. @default JSON.parse. For YAML pass the `yaml` package's
   * `parse` (`fileSource("app.yaml", { parse: YAML.parse })`): the core stays dependency-free.
   */
  parse?: (text: string) => unknown;
  /** A missing file reads as {} instead of failing with 404. @default false */
  optional?: boolean;
  /** Changes closer together than this are read once, in ms. @default 50 */
  debounce?: number;
  /** Interval of the stat poll that backs up fs.watch (network disks, editors that swap files), in ms. @default 1000 */
  poll?: number;
}

/** Line and column (1-based) of a character offset. */
export function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const lines = before.split("\n");
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

function syntaxPosition(text: string, e: unknown, json: boolean): { line: number; column: number } | undefined {
  if (json) {
    const at = jsonErrorOffset(text);
    if (at >= 0) return lineColumn(text, at);
  }
  const msg = e instanceof Error ? e.message : "";
  const lc = /line (\d+) column (\d+)/.exec(msg);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const p = /position (\d+)/.exec(msg);
  if (p) return lineColumn(text, Number(p[1]));
  if (/end of (JSON )?input/i.test(msg)) return lineColumn(text, text.length);
  // The `yaml` package reports linePos; js-yaml a 0-based mark.
  const y = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
  if (y) return { line: y.line, column: y.col };
  const m = (e as { mark?: { line: number; column: number } }).mark;
  if (m) return { line: m.line + 1, column: m.column + 1 };
  return undefined;
}

/** A JSON file (or any format, through `parse`), re-read when it changes. */
export function fileSource(path: string, opts: FileSourceOptions = {}): Source {
  const file = resolve(path);
  const parse = opts.parse ?? JSON.parse;
  return {
    name: `file:${file}`,
    async read() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          if (opts.optional) return {};
          throw notFound(ID, `config file ${file} not found`, e);
        }
        throw badRequest(ID, `config file ${file}: ${(e as Error).message}`, e);
      }
      let v: unknown;
      try {
        v = parse(text);
      } catch (e) {
        const at = syntaxPosition(text, e, parse === JSON.parse);
        const where = at ? `${file}:${at.line}:${at.column}` : file;
        throw badRequest(ID, `syntax error in config file ${where}: ${(e as Error).message}`, e);
      }
      if (v === null || v === undefined) return {};
      if (!isObject(v)) throw badRequest(ID, `config file ${file} must hold an object at the top`);
      return v;
    },
    watch(onChange) {
      let timer: NodeJS.Timeout | undefined;
      let last = "";
      const fire = () => {
        clearTimeout(timer);
        timer = setTimeout(onChange, opts.debounce ?? 50);
        timer.unref();
      };
      const sig = async () => {
        const s = await stat(file).catch(() => undefined);
        return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : "missing";
      };
      void sig().then((s) => (last = s));
      // Watch the directory: editors replace a file by renaming over it, which ends a file watch.
      let w: FSWatcher | undefined;
      try {
        w = fsWatch(dirname(file), { persistent: false }, (_ev, name) => {
          if (name === null || name.toString() === basename(file)) fire();
        });
        w.on("error", () => undefined);
      } catch {
        w = undefined;
      }
      const poll = setInterval(() => {
        void sig().then((s) => {
          if (s !== last) {
            last = s;
            fire();
          }
        });
      }, opts.poll ?? 1000);
      poll.unref();
      return () => {
        clearTimeout(timer);
        clearInterval(poll);
        w?.close();
      };
    },
  };
}
