/** One multiplexed connection per address, dialled once and shared by every call. */
import type { Connection, Transport } from "../transport/transport.js";

export class Pool {
  private readonly conns = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  constructor(private readonly transport: Transport) {}

  /** The open connection to `address`, if there is one. */
  peek(address: string): Connection | undefined {
    const c = this.conns.get(address);
    return c && !c.closed ? c : undefined;
  }

  get(address: string, signal?: AbortSignal): Promise<Connection> | Connection {
    const c = this.conns.get(address);
    if (c && !c.closed) return c;
    if (c) this.conns.delete(address);
    let p = this.dialing.get(address);
    if (!p) {
      p = this.transport.dial(address).then(
        (conn) => {
          this.dialing.delete(address);
          this.conns.set(address, conn);
          return conn;
        },
        (e: unknown) => {
          this.dialing.delete(address);
          throw e;
        },
      );
      this.dialing.set(address, p);
    }
    if (!signal) return p;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    ]);
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}
