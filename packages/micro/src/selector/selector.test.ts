import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServiceRecord } from "../registry/registry.js";
import { filterMetadata, filterNode, filterVersion, randomSelector, roundRobinSelector } from "./selector.js";

const recs: ServiceRecord[] = [
  { name: "s", version: "1", nodes: [{ id: "a", address: "h:1", metadata: { zone: "x" } }, { id: "b", address: "h:2" }] },
  { name: "s", version: "2", nodes: [{ id: "c", address: "h:3", metadata: { zone: "x" } }] },
];

function drain(next: () => { id: string } | undefined): string[] {
  const out: string[] = [];
  for (let n = next(); n; n = next()) out.push(n.id);
  return out;
}

describe("selector", () => {
  it("round-robin cycles through every node in turn", () => {
    const s = roundRobinSelector();
    const firsts = [0, 1, 2, 3, 4, 5].map(() => s.select(recs)()!.id);
    assert.deepEqual(firsts, ["a", "b", "c", "a", "b", "c"]);
  });
  it("random spreads calls over all nodes", () => {
    const s = randomSelector();
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = s.select(recs)()!.id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    assert.equal(seen.size, 3);
    for (const n of seen.values()) assert.ok(n > 700, `uneven spread ${[...seen]}`);
  });
  it("next never repeats a node and ends with undefined", () => {
    const got = drain(randomSelector().select(recs));
    assert.deepEqual([...got].sort(), ["a", "b", "c"]);
  });
  it("filters by version, node and metadata", () => {
    const s = randomSelector();
    assert.deepEqual(drain(s.select(recs, { filters: [filterVersion("2")] })), ["c"]);
    assert.deepEqual(drain(s.select(recs, { filters: [filterNode("b")] })), ["b"]);
    assert.deepEqual(drain(s.select(recs, { filters: [filterMetadata("zone", "x")] })).sort(), ["a", "c"]);
    assert.equal(s.select(recs, { filters: [filterVersion("9")] })(), undefined);
  });
  it("skips a failed node for a while, still offering it last", () => {
    const s = roundRobinSelector({ penalty: 60_000 });
    s.mark({ id: "b", address: "h:2" }, new Error("down"));
    for (let i = 0; i < 10; i++) {
      const order = drain(s.select(recs));
      assert.equal(order.length, 3);
      assert.equal(order[2], "b");
    }
    s.mark({ id: "b", address: "h:2" });
    const firsts = new Set([0, 1, 2].map(() => s.select(recs)()!.id));
    assert.ok(firsts.has("b"));
  });
  it("forgives a failed node after the penalty", () => {
    const s = roundRobinSelector({ penalty: -1 });
    s.mark({ id: "a", address: "h:1" }, new Error("down"));
    const firsts = new Set([0, 1, 2].map(() => s.select(recs)()!.id));
    assert.ok(firsts.has("a"));
  });
});
