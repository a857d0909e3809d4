// Fuzz: thousands of malformed requests (random bodies, bad JSON, hostile paths, huge headers,
// invalid methods, garbage request lines, slowloris bodies) thrown at the gateway over raw
// sockets while valid calls keep succeeding. Every answer must be a 4xx/5xx, the process stays up.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { json, req, startStack, type Stack } from "./fixtures/gateway-stack.js";
import { isObjectJson, rawRequest, sendRaw } from "./fixtures/raw-http.js";

const SEED = Number(process.env["FUZZ_SEED"] ?? 4242);
const PER_KIND = Number(process.env["FUZZ_PER_KIND"] ?? 300);
const CONCURRENCY = 24;

interface Case {
  kind: string;
  /** The raw bytes sent. */
  data: Buffer;
  /** Slowloris: the request is incomplete, the server must time it out. */
  hold?: boolean;
}

const send = (port: number, c: Case, ms = 8000) => sendRaw(port, c, ms);
const request = rawRequest;

const hostileSegment = fc.oneof(
  fc.constantFrom("..", "%2e%2e", "%2E%2e", ".%2e", "%00", "a%00b", "%zz", "%", "%2f", "a%2Fb", "\\", "..\\..", "%c0%ae", "%ff", "~", "a b", "<script>", "'", "*"),
  fc.string({ minLength: 1, maxLength: 12 }).map((s) => encodeURIComponent(s) + "%00"),
);
const safeSegment = fc.constantFrom("greeter", "hello", "v1", "api", "say-hello", "admin", "stats", "rpc", "events");

function cases(): Case[] {
  const out: Case[] = [];
  const add = (kind: string, arb: fc.Arbitrary<Case["data"]>, n = PER_KIND, hold = false) =>
    fc.sample(arb, { numRuns: n, seed: SEED + out.length }).forEach((data) => out.push({ kind, data, hold }));

  add("random-bytes-body", fc.uint8Array({ minLength: 1, maxLength: 2048 }).filter((b) => !isObjectJson(Buffer.from(b))).map((b) => request("POST", "/greeter/hello", Buffer.from(b))));
  add(
    "bad-json",
    fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom("", "}", "{", ",", "\u0000", "'", "]"))
      .map(([j, cut, junk]) => j.slice(0, cut % (j.length + 1)) + junk)
      .filter((s) => !isObjectJson(s))
      .map((s) => request("POST", "/greeter/hello", s)),
  );
  add(
    "hostile-path",
    fc
      .tuple(fc.array(safeSegment, { maxLength: 3 }), hostileSegment, fc.array(fc.oneof(safeSegment, hostileSegment), { maxLength: 3 }))
      .map(([a, bad, b]) => request(fc.sample(fc.constantFrom("GET", "POST"), 1)[0]!, "/" + [...a, bad, ...b].join("/"), "{}")),
  );
  add("long-path", fc.integer({ min: 2100, max: 12_000 }).map((n) => request("POST", "/" + "greeter/".repeat(Math.ceil(n / 8)).slice(0, n), "{}")), 60);
  add("huge-header", fc.integer({ min: 17_000, max: 80_000 }).map((n) => request("POST", "/greeter/hello", '{"name":"a"}', { "x-big": "a".repeat(n) })), 60);
  add(
    "invalid-method",
    fc.oneof(fc.stringMatching(/^[A-Z]{1,12}$/), fc.constantFrom("G ET", "PROPFIND", "TRACE", "CONNECT", "\u0000", "get", "PO\tST")).map((m) => request(m, "/greeter/hello", '{"name":"a"}')),
  );
  add("garbage-request", fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from("\r\n\r\n")])));
  add("bad-content-length", fc.constantFrom("-1", "abc", "1e3", "99999999999999999999", "1, 2").map((v) => request("POST", "/greeter/hello", '{"name":"a"}', { "content-length": v })), 40);
  add("oversized-body", fc.integer({ min: 64 * 1024 + 1, max: 1 << 30 }).map((n) => request("POST", "/greeter/echo", "", { "content-length": String(n) })), 60);
  add("unknown-target", fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((s) => !["greeter", "health", "rpc", "openapi-json", "events", "api"].includes(s)).map((s) => request("POST", `/${s}/x`, "{}")));
  add("bad-rpc", fc.json().filter((s) => !isObjectJson(s) || !(JSON.parse(s) as { service?: unknown }).service).map((s) => request("POST", "/rpc", s)), 150);
  add(
    "slowloris-body",
    fc.integer({ min: 20, max: 2000 }).map((n) => Buffer.concat([request("POST", "/greeter/hello", "", { "content-length": String(n) }), Buffer.from('{"na')])),
    60,
    true,
  );
  add("slowloris-headers", fc.integer({ min: 0, max: 5 }).map((n) => Buffer.from(`POST /greeter/hello HTTP/1.1\r\nhost: x\r\n${"x-a: b\r\n".repeat(n)}`)), 30, true);
  return out;
}

describe("gateway: fuzz", () => {
  let s: Stack;
  let port: number;
  before(async () => {
    s = await startStack({ maxBodyBytes: 64 * 1024, bodyTimeout: 300, headersTimeout: 600, requestTimeout: 2000, timeout: 2000 });
    port = Number(s.address.split(":").pop());
  });
  after(() => s.close());

  it("answers every malformed request with a 4xx/5xx while valid calls keep succeeding", async () => {
    const all = cases();
    assert.ok(all.length >= 2000, `${all.length} cases`);
    let stop = false;
    let valid = 0;
    const validLoop = (async () => {
      while (!stop) {
        const r = await req(s.base, "/greeter/hello", json({ name: "Ada" }));
        assert.equal(r.status, 200, `a valid call failed during the fuzz: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body, { msg: "Hello Ada" });
        valid++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const statuses = new Map<string, Map<number, number>>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const c = all[next++]!;
        const status = await send(port, c);
        const m = statuses.get(c.kind) ?? new Map<number, number>();
        m.set(status, (m.get(status) ?? 0) + 1);
        statuses.set(c.kind, m);
        if (status < 400 || status > 599) bad.push(`${c.kind} → ${status}: ${JSON.stringify(c.data.subarray(0, 100).toString("latin1"))}`);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      stop = true;
      await validLoop;
    }
    const summary = Object.fromEntries([...statuses].map(([k, m]) => [k, Object.fromEntries(m)]));
    assert.deepEqual(bad, [], JSON.stringify(summary));
    assert.ok(valid > 20, `only ${valid} valid calls went through`);
    // the slow clients were timed out by the gateway, not by this test
    assert.ok(statuses.get("slowloris-body")!.get(408)! > 0, JSON.stringify(summary));
    // still up and serving
    assert.equal((await req(s.base, "/health")).status, 200);
    assert.equal((await req(s.base, "/greeter/hello", json({ name: "End" }))).status, 200);
  });
});
