/**
 * Failure behaviour against real processes: an unreachable PostgreSQL, and a private cluster
 * (initdb in a temp directory owned by the postgres user, a random port) stopped with
 * `pg_ctl -m immediate` (a crash: only committed, WAL-fsynced writes survive) and restarted.
 * The shared server on 5432 is never touched.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MicroError } from "@micro-ts/micro";
import { postgresStore } from "./store.js";

function listen(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });
}

async function unusedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const unavailable = (address: string) => (e: unknown) =>
  e instanceof MicroError && e.code === 503 && e.detail.includes(address) && e.detail.includes("PostgreSQL");

describe("postgres faults: engine unreachable at start", () => {
  it("fails with a 503 naming PostgreSQL and the address within the timeout", async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const store = postgresStore({ url: `postgres://postgres@${address}/test`, timeout: 1000 });
    const start = Date.now();
    await assert.rejects(store.read("k"), unavailable(address));
    await assert.rejects(store.write({ key: "k", value: 1 }), unavailable(address));
    assert.ok(Date.now() - start < 2 * 1500);
    await store.close();
  });

  it("gives up within the configured timeout when the address accepts but never answers", async () => {
    const silent = createServer(() => undefined);
    const port = await listen(silent);
    const address = `127.0.0.1:${port}`;
    const store = postgresStore({ url: `postgres://postgres@${address}/test`, timeout: 500 });
    try {
      const start = Date.now();
      await assert.rejects(store.read("k"), unavailable(address));
      assert.ok(Date.now() - start < 500 + 1500);
    } finally {
      await store.close();
      silent.close();
      silent.unref();
    }
  });
});

const BIN = process.env["PG_BIN"] ?? join("/usr/lib/postgresql", readdirSync("/usr/lib/postgresql").sort().pop() ?? "", "bin");
const asPostgres = (cmd: string, args: string[]) => execFileSync("runuser", ["-u", "postgres", "--", join(BIN, cmd), ...args], { stdio: "pipe" });

/** A private PostgreSQL cluster on a random port. */
class PrivateCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "micro-pg-"));
  constructor(readonly port: number) {
    chownSync(this.dir, Number(execFileSync("id", ["-u", "postgres"]).toString().trim()), Number(execFileSync("id", ["-g", "postgres"]).toString().trim()));
    asPostgres("initdb", ["-D", join(this.dir, "data"), "-U", "postgres", "--auth=trust"]);
  }
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
  start(): void {
    asPostgres("pg_ctl", ["-D", join(this.dir, "data"), "-w", "-l", join(this.dir, "log"), "-o", `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`, "start"]);
  }
  crash(): void {
    asPostgres("pg_ctl", ["-D", join(this.dir, "data"), "-w", "-m", "immediate", "stop"]);
  }
  dispose(): void {
    try {
      this.crash();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("postgres faults: server crash and restart", () => {
  it("reconnects by itself and keeps acknowledged writes", async () => {
    const cluster = new PrivateCluster(await unusedPort());
    cluster.start();
    const store = postgresStore({ url: cluster.url, timeout: 2000 });
    try {
      for (let i = 0; i < 20; i++) await store.write({ key: `k${i}`, value: { i } });
      cluster.crash();
      await assert.rejects(store.read("k1"), (e: unknown) => e instanceof MicroError && e.code === 503);
      cluster.start();
      // The same instance, no reopen: the pool drops dead connections and opens new ones.
      assert.equal((await store.list()).length, 20);
      assert.deepEqual((await store.read("k7"))[0]?.value, { i: 7 });
      await store.write({ key: "after", value: 1 });
      assert.equal((await store.list()).length, 21);
    } finally {
      await store.close();
      cluster.dispose();
    }
  });
});
