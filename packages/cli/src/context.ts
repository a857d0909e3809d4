/** What every command gets: output, and (lazily) the connection to the current env's server. */
import { currentAddress } from "./env.js";
import { output, type Format, type Out } from "./output.js";
import { loginKey, loginToken } from "./login.js";
import { Platform } from "./platform.js";
import { UsageError } from "./flags.js";

export interface GlobalOptions {
  output?: string;
  server?: string;
  timeout?: string | number;
}

export class Ctx {
  readonly out: Out;
  #platform?: Platform;

  constructor(readonly opts: GlobalOptions) {
    const format = opts.output ?? "text";
    if (format !== "text" && format !== "json") throw new UsageError(`--output must be text or json, got ${format}`);
    this.out = output(format as Format);
  }

  get timeout(): number {
    const t = this.opts.timeout === undefined ? 5000 : Number(this.opts.timeout);
    if (!Number.isFinite(t) || t <= 0) throw new UsageError(`--timeout must be a positive number of ms, got ${this.opts.timeout}`);
    return t;
  }

  async platform(): Promise<Platform> {
    if (!this.#platform) {
      const { env, address } = await currentAddress(this.opts.server);
      this.#platform = new Platform(address, env, this.timeout, loginToken(loginKey(env, address), address, this.timeout));
    }
    return this.#platform;
  }

  /** The platform if one was opened (for error messages and closing). */
  get opened(): Platform | undefined {
    return this.#platform;
  }

  async close(): Promise<void> {
    await this.#platform?.close();
  }
}

/** Parses a JSON argument; a malformed one is a usage error. */
export function jsonArg(what: string, s: string | undefined, fallback: unknown = {}): unknown {
  if (s === undefined) return fallback;
  try {
    return JSON.parse(s);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}
