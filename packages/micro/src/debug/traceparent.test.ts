import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatTraceparent, IdSource, parseTraceparent } from "./traceparent.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("traceparent", () => {
  it("parses the W3C example", () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { version: "00", traceId: TRACE, spanId: SPAN, flags: 1 });
  });
  it("formats what it parses", () => {
    assert.equal(formatTraceparent(TRACE, SPAN, 1), `00-${TRACE}-${SPAN}-01`);
    assert.equal(formatTraceparent(TRACE, SPAN, 0), `00-${TRACE}-${SPAN}-00`);
    const p = parseTraceparent(formatTraceparent(TRACE, SPAN, 3))!;
    assert.equal(p.flags, 3);
  });
  it("refuses malformed values without throwing", () => {
    const bad: unknown[] = [
      undefined,
      null,
      42,
      {},
      "",
      "garbage",
      `00-${TRACE}-${SPAN}-1`, // short flags
      `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
      `00-${TRACE.toUpperCase()}-${SPAN}-01`, // upper-case hex
      `00-${"0".repeat(32)}-${SPAN}-01`, // zero trace id
      `00-${TRACE}-${"0".repeat(16)}-01`, // zero span id
      `ff-${TRACE}-${SPAN}-01`, // forbidden version
      `0g-${TRACE}-${SPAN}-01`,
      `00_${TRACE}_${SPAN}_01`,
      ` 00-${TRACE}-${SPAN}-01`,
      `00-${TRACE.slice(1)}x-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-zz`,
    ];
    for (const v of bad) assert.equal(parseTraceparent(v), undefined, String(v));
  });
  it("accepts a later version with more fields, reading the first four", () => {
    assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-comes-next`)?.traceId, TRACE);
    assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01x`), undefined);
  });
  it("generates distinct, well-formed ids", () => {
    const ids = new IdSource();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = ids.traceId();
      const s = ids.spanId();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.match(s, /^[0-9a-f]{16}$/);
      assert.ok(parseTraceparent(formatTraceparent(t, s)));
      seen.add(s);
    }
    assert.equal(seen.size, 1000);
  });
});
