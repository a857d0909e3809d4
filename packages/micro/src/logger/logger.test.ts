import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "./logger.js";

function sink() {
  const lines: string[] = [];
  return { lines, out: { write: (s: string) => lines.push(s) } };
}

describe("logger", () => {
  it("writes JSON lines at or above its level, with fields", () => {
    const s = sink();
    const log = createLogger({ level: "info", format: "json", out: s.out, fields: { service: "greeter" } });
    log.debug("hidden");
    log.info("hello", { n: 1 });
    assert.equal(s.lines.length, 1);
    const rec = JSON.parse(s.lines[0]!) as Record<string, unknown>;
    assert.equal(rec["msg"], "hello");
    assert.equal(rec["level"], "info");
    assert.equal(rec["service"], "greeter");
    assert.equal(rec["n"], 1);
  });
  it("never writes secret-looking fields", () => {
    const s = sink();
    const log = createLogger({ format: "json", out: s.out });
    log.info("login", { password: "hunter2", token: "abc", user: "ada" });
    assert.doesNotMatch(s.lines.join(""), /hunter2|abc"/);
    assert.match(s.lines.join(""), /"user":"ada"/);
    assert.equal(log.records()[0]!.fields["password"], "[redacted]");
  });
  it("keeps the most recent records in a ring buffer, even below the level", () => {
    const log = createLogger({ level: "silent", bufferSize: 3, out: sink().out });
    for (let i = 0; i < 5; i++) log.info(`m${i}`);
    assert.deepEqual(log.records().map((r) => r.msg), ["m2", "m3", "m4"]);
    assert.deepEqual(log.records({ count: 1 }).map((r) => r.msg), ["m4"]);
  });
  it("child loggers add fields and share the buffer; follow sees new records", () => {
    const log = createLogger({ level: "silent", out: sink().out });
    const seen: string[] = [];
    const stop = log.follow((r) => seen.push(`${r.msg}:${String(r.fields["req"])}`));
    log.with({ req: "r1" }).warn("slow");
    stop();
    log.info("after");
    assert.deepEqual(seen, ["slow:r1"]);
    assert.equal(log.records().length, 2);
  });
});
