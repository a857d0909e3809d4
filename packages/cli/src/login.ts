/**
 * The CLI's stored logins (`micro login`): one file per env under `$MICRO_CONFIG_DIR/logins/`,
 * mode 0600, holding the access and refresh tokens, never the secret. `loginToken()` is the token
 * source every command's clients use: it refreshes an expired access token and stores the new
 * pair at once, since a refresh token works only once.
 */
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { errors, MicroError, serviceAuth, type Account, type Token } from "@micro-ts/micro";
import { configDir } from "./env.js";

export interface StoredLogin extends Token {
  /** The server the tokens were issued by: a login is never sent anywhere else. */
  address: string;
  /** The account's id and namespace, for messages. */
  id: string;
  issuer?: string;
}

/** Refresh this long before the access token expires, so a call never leaves with a dying token. */
const MARGIN_MS = 30_000;

/** The file key of a target: the env's name, or the address for `--server`/MICRO_SERVER. */
export function loginKey(env: string, address: string): string {
  return env.startsWith("(") ? `@${address}` : env;
}

function loginFile(key: string): string {
  return join(configDir(), "logins", `${key.replace(/[^\w.-]/g, "_")}.json`);
}

export async function readLogin(key: string): Promise<StoredLogin | undefined> {
  let text: string;
  try {
    text = await readFile(loginFile(key), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const v = JSON.parse(text) as Partial<StoredLogin>;
  if (typeof v.accessToken !== "string" || typeof v.refreshToken !== "string" || typeof v.address !== "string") return undefined;
  return v as StoredLogin;
}

export async function saveLogin(key: string, login: StoredLogin): Promise<void> {
  const file = loginFile(key);
  await mkdir(join(configDir(), "logins"), { recursive: true, mode: 0o700 });
  // Written aside with 0600 from the first byte, then renamed over: never readable by others, never half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(login, null, 2)}\n`);
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await chmod(file, 0o600);
}

export async function deleteLogin(key: string): Promise<boolean> {
  const file = loginFile(key);
  try {
    await rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** Logs in at `address` and returns what to store. */
export async function login(address: string, creds: { id: string; secret: string }, timeout: number): Promise<{ stored: StoredLogin; account: Account }> {
  let access = "";
  const auth = serviceAuth({ address, timeout, token: async () => access });
  try {
    const t = await auth.token(creds);
    access = t.accessToken;
    const account = await auth.inspect(t.accessToken);
    return { stored: { ...t, address, id: account.id, issuer: account.issuer }, account };
  } finally {
    await auth.close();
  }
}

function expired(key: string, detail: string): MicroError {
  const where = key.startsWith("@") ? key.slice(1) : `env ${key}`;
  return errors.unauthorized("micro.cli", `the login for ${where} has expired (${detail}); log in again with \`micro login\``);
}

/**
 * The token source for one target: MICRO_TOKEN when set, else the stored login for `key` if it
 * was issued by `address` (refreshed when due), else none. Concurrent callers share one refresh.
 */
export function loginToken(key: string, address: string, timeout: number): () => Promise<string | undefined> {
  let pending: Promise<string | undefined> | undefined;
  const resolve = async (): Promise<string | undefined> => {
    const fromEnv = process.env["MICRO_TOKEN"];
    if (fromEnv) return fromEnv;
    const stored = await readLogin(key);
    if (!stored || stored.address !== address) return undefined;
    if (stored.expiry - Date.now() > MARGIN_MS) return stored.accessToken;
    const auth = serviceAuth({ address, timeout });
    try {
      const t = await auth.token({ refreshToken: stored.refreshToken });
      await saveLogin(key, { ...stored, ...t });
      return t.accessToken;
    } catch (err) {
      if (!(err instanceof MicroError) || err.code !== 401) throw err;
      // Another `micro` process may have spent the refresh token first: use the pair it stored.
      const now = await readLogin(key);
      if (now && now.refreshToken !== stored.refreshToken && now.expiry - Date.now() > 0) return now.accessToken;
      throw expired(key, err.detail.split(":")[0] ?? "refused");
    } finally {
      await auth.close();
    }
  };
  return () => (pending ??= resolve().finally(() => (pending = undefined)));
}
