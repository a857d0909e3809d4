import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeName, encodeName } from "./names.js";

describe("nats names", () => {
  it("encodes any name into [A-Za-z0-9_-] and decodes it back", () => {
    for (const s of ["greeter", "go.micro.srv.greeter", "a b*c>d/e\\f", "under_score", "héllo ✓ 世界", ""]) {
      const e = encodeName(s);
      assert.match(e, /^[A-Za-z0-9_-]*$/);
      assert.equal(decodeName(e), s);
    }
    assert.equal(encodeName("a.b"), "a_2Eb");
    assert.notEqual(encodeName("a.b"), encodeName("a_2Eb"), "the escape character is itself escaped");
  });

  it("rejects strings that are not encoded names", () => {
    assert.equal(decodeName("a.b"), undefined);
    assert.equal(decodeName("a_zz"), undefined);
    assert.equal(decodeName("_FF"), undefined); // not UTF-8
  });
});
