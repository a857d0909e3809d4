import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonErrorOffset } from "./json-position.js";
import { lineColumn } from "./sources.js";

describe("jsonErrorOffset", () => {
  it("returns -1 for valid JSON, as JSON.parse agrees", () => {
    for (const t of ['{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"],"b":{}}', " [] ", '"s"', "0"]) {
      JSON.parse(t);
      assert.equal(jsonErrorOffset(t), -1, t);
    }
  });
  it("points at the first bad character", () => {
    assert.equal(jsonErrorOffset('{"a": }'), 6);
    assert.equal(jsonErrorOffset('{"a": 1,}'), 8);
    assert.equal(jsonErrorOffset("{\n  oops\n}"), 4);
    assert.equal(jsonErrorOffset('{"a": 1} x'), 9);
    assert.equal(jsonErrorOffset('{"a": "unterminated'), 19);
  });
  it("maps offsets to 1-based lines and columns", () => {
    assert.deepEqual(lineColumn("ab\ncd\nef", 4), { line: 2, column: 2 });
    assert.deepEqual(lineColumn("x", 0), { line: 1, column: 1 });
  });
});
