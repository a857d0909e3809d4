/** Finding what to run in a service directory. */
import { readFile, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { badRequest } from "../errors/index.js";

/** Files tried, in order, when package.json names no entry. */
export const ENTRY_CANDIDATES = ["main.ts", "index.ts", "src/main.ts", "src/index.ts", "main.js", "index.js"] as const;

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

interface PackageJson {
  name?: unknown;
  main?: unknown;
  scripts?: { start?: unknown };
}

export interface ServiceEntry {
  /** Absolute directory. */
  dir: string;
  /** Absolute path of the file to run. */
  file: string;
  /** The package name, when package.json has one. */
  packageName?: string;
}

/** The first script file named in an npm `start` script (`tsx main.ts`, `node --import tsx src/main.ts`). */
export function fileFromStartScript(script: string): string | undefined {
  for (const token of script.split(/\s+/)) {
    if (/^[^-][^=]*\.(m?[jt]s|c[jt]s)$/.test(token)) return token;
  }
  return undefined;
}

/**
 * Resolves the entry of a service directory: package.json `main`, else the file its `start` script
 * runs, else the first of `ENTRY_CANDIDATES`. Rejects with 400 saying what was looked for.
 */
export async function findEntry(source: string): Promise<ServiceEntry> {
  const dir = resolve(source);
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw badRequest("runtime.create", `${source}: no such directory`);
  }
  if (!st.isDirectory()) throw badRequest("runtime.create", `${source}: not a directory`);

  let pkg: PackageJson | undefined;
  try {
    pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as PackageJson;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw badRequest("runtime.create", `${join(source, "package.json")}: ${(err as Error).message}`);
    }
  }
  const packageName = typeof pkg?.name === "string" ? pkg.name : undefined;
  const named: string[] = [];
  if (typeof pkg?.main === "string") named.push(pkg.main);
  if (typeof pkg?.scripts?.start === "string") {
    const f = fileFromStartScript(pkg.scripts.start);
    if (f) named.push(f);
  }
  for (const rel of [...named, ...ENTRY_CANDIDATES]) {
    const file = isAbsolute(rel) ? rel : join(dir, rel);
    if (await isFile(file)) return { dir, file, ...(packageName ? { packageName } : {}) };
  }
  const looked = [...named.map((n) => `${n} (from package.json)`), ...ENTRY_CANDIDATES].join(", ");
  throw badRequest("runtime.create", `${source} holds no service: looked for ${looked}`);
}
