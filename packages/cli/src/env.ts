/**
 * Environments: named server addresses the CLI talks to (`micro env`). Kept in
 * `$MICRO_CONFIG_DIR/config.json`, by default `~/.micro/config.json`.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_ENV = "local";
export const DEFAULT_ADDRESS = "127.0.0.1:8081";

export interface EnvConfig {
  current: string;
  envs: Record<string, { address: string }>;
}

export function configDir(): string {
  return process.env["MICRO_CONFIG_DIR"] || join(homedir(), ".micro");
}

export async function loadEnvs(): Promise<EnvConfig> {
  let saved: Partial<EnvConfig> = {};
  try {
    saved = JSON.parse(await readFile(join(configDir(), "config.json"), "utf8")) as Partial<EnvConfig>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`${join(configDir(), "config.json")}: ${(err as Error).message}`);
    }
  }
  return {
    current: typeof saved.current === "string" ? saved.current : DEFAULT_ENV,
    envs: { [DEFAULT_ENV]: { address: DEFAULT_ADDRESS }, ...(saved.envs ?? {}) },
  };
}

export async function saveEnvs(c: EnvConfig): Promise<void> {
  const dir = configDir();
  await mkdir(dir, { recursive: true });
  const file = join(dir, "config.json");
  // Written aside and renamed, so a crash never leaves half a file.
  await writeFile(`${file}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** The address the CLI talks to: `--server`/MICRO_SERVER win over the current env. */
export async function currentAddress(flag?: string): Promise<{ env: string; address: string }> {
  if (flag) return { env: "(flag)", address: flag };
  if (process.env["MICRO_SERVER"]) return { env: "(MICRO_SERVER)", address: process.env["MICRO_SERVER"] };
  const c = await loadEnvs();
  const e = c.envs[c.current];
  return { env: c.current, address: e?.address ?? DEFAULT_ADDRESS };
}

export function validAddress(a: string): boolean {
  return /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(a);
}
