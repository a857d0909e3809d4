// Test helper (not exported from the package): a private etcd on loopback, random ports and a
// temporary data directory, started and stopped by the test itself.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ETCD_BIN = process.env["ETCD_BIN"] ?? "etcd";

/** A port nothing listens on (bound by the OS, then released). */
export async function unusedPort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });
  await new Promise((r) => s.close(r));
  return port;
}

export class EtcdTestServer {
  private proc: ChildProcess | undefined;
  private dir: string | undefined;
  clientPort = 0;

  /** `host:port` of the client endpoint. */
  get address(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /**
   * Starts etcd and resolves once it serves clients. A short heartbeat and election timeout
   * lower etcd's minimum lease TTL to 1 s, so lease tests can use 1 s TTLs.
   */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.tryStart();
      } catch (e) {
        this.cleanup();
        if (attempt >= 2) throw e; // a port taken between picking and binding: pick again
      }
    }
  }

  private async tryStart(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "micro-etcd-"));
    this.clientPort = await unusedPort();
    const peer = `http://127.0.0.1:${await unusedPort()}`;
    const client = `http://${this.address}`;
    const p = spawn(
      ETCD_BIN,
      [
        "--name", "default",
        "--data-dir", this.dir,
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", `default=${peer}`,
        "--heartbeat-interval", "50",
        "--election-timeout", "500",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.proc = p;
    await new Promise<void>((resolve, reject) => {
      let log = "";
      const onData = (b: Buffer): void => {
        log += b.toString();
        if (log.includes("ready to serve client requests")) {
          p.stderr!.off("data", onData);
          p.stderr!.resume();
          p.off("exit", onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => reject(new Error(`etcd exited (${code}) before ready: ${log.slice(-2000)}`));
      p.stderr!.on("data", onData);
      p.once("exit", onExit);
      p.once("error", reject);
    });
  }

  private cleanup(): void {
    this.proc?.kill("SIGKILL");
    this.proc = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** Stops etcd, waits for it to exit and removes its data. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await exited;
    }
    this.cleanup();
  }
}

/**
 * The etcd a test file runs against: MICRO_ETCD_ADDRESS when set (an etcd run elsewhere),
 * else a private server this helper starts. `stop()` stops only a server it started.
 */
export async function testEtcd(): Promise<{ address: string; stop: () => Promise<void> }> {
  const external = process.env["MICRO_ETCD_ADDRESS"];
  if (external) return { address: external, stop: () => Promise.resolve() };
  const s = new EtcdTestServer();
  await s.start();
  return { address: s.address, stop: () => s.stop() };
}
