// `micro server`'s auth switch: off while local, on when exposed, loud when forced off; the
// admin bootstrap happens once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "@micro-ts/micro";
import { isLoopback, shouldEnableAuth, startServer } from "@micro-ts/server";

describe("shouldEnableAuth", () => {
  it("is off while every listener is on loopback", () => {
    assert.deepEqual(shouldEnableAuth(["127.0.0.1:8081", "127.0.0.1:8080"]), { enabled: false });
    assert.deepEqual(shouldEnableAuth(["localhost:8081", "[::1]:8080", false]), { enabled: false });
    assert.deepEqual(shouldEnableAuth(["127.0.0.2:1"]), { enabled: false });
  });

  it("turns on when a listener is exposed", () => {
    for (const a of ["0.0.0.0:8080", ":8080", "[::]:8080", "192.168.1.5:8080", "example.com:80", "10.0.0.1:8081"]) {
      assert.equal(shouldEnableAuth(["127.0.0.1:8081", a]).enabled, true, a);
    }
  });

  it("obeys an explicit choice, warning when forced off while exposed", () => {
    assert.deepEqual(shouldEnableAuth(["127.0.0.1:8080"], true), { enabled: true });
    assert.deepEqual(shouldEnableAuth(["127.0.0.1:8080"], false), { enabled: false });
    const d = shouldEnableAuth(["127.0.0.1:8081", "0.0.0.0:8080"], false);
    assert.equal(d.enabled, false);
    assert.match(d.warning ?? "", /AUTH IS OFF.*0\.0\.0\.0:8080/);
  });

  it("knows loopback addresses", () => {
    for (const a of ["127.0.0.1:1", "localhost:1", "[::1]:1", "::1", "127.1.2.3:4"]) assert.equal(isLoopback(a), true, a);
    for (const a of ["0.0.0.0:1", ":1", "[::]:1", "128.0.0.1:1", "localhost.evil.com:1", "127.0.0.1.nip.io:1"]) assert.equal(isLoopback(a), false, a);
  });
});

describe("micro server with auth", () => {
  it("creates the admin once, announcing its password once, and keeps it across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "micro-auth-boot-"));
    const seen: string[] = [];
    const start = () =>
      startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, auth: true, logger: silentLogger(), announceAdmin: (_id, pw) => seen.push(pw) });
    try {
      const s1 = await start();
      assert.equal(s1.authEnabled, true);
      assert.equal(seen.length, 1);
      const t = await s1.auth.token({ id: "admin", secret: seen[0]! });
      assert.ok((await s1.auth.rules()).some((r) => r.scope === "" && r.resource.endpoint === "Auth.Token"));
      await s1.stop();
      const s2 = await start();
      assert.equal(seen.length, 1, "not announced again");
      assert.equal((await s2.auth.inspect(t.accessToken)).id, "admin", "keys persisted");
      await s2.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is off by default on loopback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "micro-auth-off-"));
    try {
      const s = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: false, logger: silentLogger(), announceAdmin: () => assert.fail("no admin when off") });
      assert.equal(s.authEnabled, false);
      await s.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
