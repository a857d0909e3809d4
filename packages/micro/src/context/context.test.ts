import assert from "node:assert/strict";
import { it } from "node:test";
import { currentContext, runWithContext, withMetadata, type Context } from "./context.js";

it("withMetadata adds lower-cased metadata and keeps the rest of the context, getters included", () => {
  const ctrl = new AbortController();
  class Live implements Context {
    readonly metadata = { a: "1" };
    readonly deadline = 123;
    get signal(): AbortSignal {
      return ctrl.signal;
    }
  }
  runWithContext(new Live(), () => {
    withMetadata({ "X-B": "2" }, () => {
      const c = currentContext()!;
      assert.deepEqual(c.metadata, { a: "1", "x-b": "2" });
      assert.equal(c.deadline, 123);
      assert.equal(c.signal, ctrl.signal);
    });
  });
  assert.equal(currentContext(), undefined);
});
