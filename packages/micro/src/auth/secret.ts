/** Secrets at rest: salted scrypt hashes, compared in constant time. */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** How a secret is stored: never the secret itself. */
export interface SecretHash {
  alg: "scrypt";
  N: number;
  r: number;
  p: number;
  /** base64url */
  salt: string;
  /** base64url, 32 bytes */
  hash: string;
}

/** scrypt cost (N). 2^14 is the interactive-login figure of RFC 7914; tests may lower it. */
export const DEFAULT_HASH_COST = 1 << 14;
const KEY_LEN = 32;

function scrypt(secret: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(secret.normalize("NFKC"), salt, KEY_LEN, { ...o, maxmem: 256 * o.N! * o.r! }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashSecret(secret: string, cost = DEFAULT_HASH_COST): Promise<SecretHash> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, { N: cost, r: 8, p: 1 });
  return { alg: "scrypt", N: cost, r: 8, p: 1, salt: salt.toString("base64url"), hash: key.toString("base64url") };
}

/** True when `secret` matches; false (never a throw) for a wrong secret or a damaged hash. */
export async function verifySecret(secret: string, h: SecretHash): Promise<boolean> {
  try {
    if (h.alg !== "scrypt" || !Number.isSafeInteger(h.N) || h.N > 1 << 20 || h.r > 32 || h.p > 16) return false;
    const expected = Buffer.from(h.hash, "base64url");
    const key = await scrypt(secret, Buffer.from(h.salt, "base64url"), { N: h.N, r: h.r, p: h.p });
    return expected.length === key.length && timingSafeEqual(expected, key);
  } catch {
    return false;
  }
}

/** A random secret for generated accounts: 24 bytes, base64url. */
export function randomSecret(): string {
  return randomBytes(24).toString("base64url");
}
