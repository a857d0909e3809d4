import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import { BytesCodec, Codecs, JsonCodec } from "./codec.js";

describe("codecs", () => {
  it("round-trips JSON values", () => {
    const c = new JsonCodec();
    for (const v of [{ a: 1, b: [true, null, "x"] }, "s", 3.5, [], null]) assert.deepEqual(c.decode(c.encode(v)), v);
  });
  it("decodes an empty body as an empty object", () => {
    assert.deepEqual(new JsonCodec().decode(new Uint8Array()), {});
  });
  it("rejects malformed JSON with a 400", () => {
    assert.throws(
      () => new JsonCodec().decode(Buffer.from("{nope")),
      (e: unknown) => e instanceof MicroError && e.code === 400,
    );
  });
  it("passes bytes through", () => {
    const c = new BytesCodec();
    const b = new Uint8Array([0, 1, 255]);
    assert.deepEqual(c.decode(c.encode(b)), b);
    assert.throws(() => c.encode({}), (e: unknown) => e instanceof MicroError && e.code === 400);
  });
  it("finds codecs by content type, ignoring parameters and case", () => {
    const cs = new Codecs();
    assert.equal(cs.get("Application/JSON; charset=utf-8")?.name, "json");
    assert.equal(cs.get(undefined)?.name, "json");
    assert.equal(cs.get("application/octet-stream")?.name, "bytes");
    assert.equal(cs.get("application/xml"), undefined);
  });
});
