/**
 * The signing keys of an Auth, persisted in its store: one Ed25519 key signs new tokens;
 * retired keys stay (public part only matters) until every token they signed has expired.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import type { Store } from "../store/store.js";
import type { PublicKey } from "./auth.js";
import type { SigningKey } from "./jwt.js";

interface KeyRecord {
  kid: string;
  created: number;
  /** PKCS#8 PEM. The store holds it: protect the store as you would the key. */
  privateKey: string;
  /** Set when the key stopped signing, ms since the epoch. */
  retired?: number;
}

interface LoadedKey {
  kid: string;
  created: number;
  retired: number | undefined;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicKey;
}

export interface KeyRingOptions {
  store: Store;
  scope: { database?: string; table?: string };
  /** How long a retired key keeps verifying, in ms (the longest token lifetime + leeway). */
  keepRetired: number;
}

const PREFIX = "key/";

function load(r: KeyRecord): LoadedKey {
  const privateKey = createPrivateKey(r.privateKey);
  const publicKey = createPublicKey(privateKey);
  const x = (publicKey.export({ format: "jwk" }) as { x: string }).x;
  return { kid: r.kid, created: r.created, retired: r.retired, privateKey, publicKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid: r.kid, alg: "EdDSA", use: "sig" } };
}

export class KeyRing {
  private keys = new Map<string, LoadedKey>();
  private signer: LoadedKey | undefined;
  private lastReload = 0;

  constructor(private readonly o: KeyRingOptions) {}

  /** Loads the keys; generates the first one when the store has none. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.signer) await this.add();
  }

  /** Re-reads the keys from the store (another instance may have rotated). */
  async reload(): Promise<void> {
    this.lastReload = Date.now();
    const recs = await this.o.store.read(PREFIX, { ...this.o.scope, prefix: true });
    const next = new Map<string, LoadedKey>();
    for (const rec of recs) {
      try {
        const k = load(rec.value as unknown as KeyRecord);
        next.set(k.kid, k);
      } catch {
        // A damaged key record verifies nothing; skip it rather than refuse to start.
      }
    }
    this.keys = next;
    this.signer = [...next.values()].filter((k) => k.retired === undefined).sort((a, b) => b.created - a.created)[0];
  }

  /** Reloads when a token names an unknown kid, at most once a second (unknown kids are cheap to forge). */
  async reloadForUnknown(kid: string): Promise<void> {
    if (this.keys.has(kid) || Date.now() - this.lastReload < 1000) return;
    await this.reload();
  }

  private async add(): Promise<LoadedKey> {
    const { privateKey } = generateKeyPairSync("ed25519");
    const rec: KeyRecord = {
      kid: randomUUID(),
      created: Date.now(),
      privateKey: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    };
    await this.o.store.write({ key: PREFIX + rec.kid, value: { ...rec } }, { ...this.o.scope, ifNotExists: true });
    const k = load(rec);
    this.keys.set(k.kid, k);
    this.signer = k;
    return k;
  }

  /** A new key signs from now on; the previous ones verify until `keepRetired` has passed. */
  async rotate(): Promise<string> {
    const old = [...this.keys.values()].filter((k) => k.retired === undefined);
    const k = await this.add();
    const now = Date.now();
    for (const o of old) {
      const rec: KeyRecord = { kid: o.kid, created: o.created, privateKey: o.privateKey.export({ format: "pem", type: "pkcs8" }) as string, retired: now };
      await this.o.store.write({ key: PREFIX + o.kid, value: { ...rec }, expiry: this.o.keepRetired }, this.o.scope);
      o.retired = now;
    }
    return k.kid;
  }

  signing(): SigningKey {
    if (!this.signer) throw new Error("auth keys not initialised");
    return { kid: this.signer.kid, privateKey: this.signer.privateKey };
  }

  /** The public key for `kid`, if it still verifies. */
  publicKey(kid: string): KeyObject | undefined {
    const k = this.keys.get(kid);
    if (!k) return undefined;
    if (k.retired !== undefined && Date.now() > k.retired + this.o.keepRetired) return undefined;
    return k.publicKey;
  }

  /** The signing key first, then the retired ones still verifying. */
  publicKeys(): PublicKey[] {
    const now = Date.now();
    const live = [...this.keys.values()].filter((k) => k.retired === undefined || now <= k.retired + this.o.keepRetired);
    live.sort((a, b) => (a === this.signer ? -1 : b === this.signer ? 1 : b.created - a.created));
    return live.map((k) => ({ ...k.jwk }));
  }
}
