import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as errors from "./errors.js";
import { MicroError } from "./errors.js";

describe("errors", () => {
  it("has go-micro's constructors with their codes and status texts", () => {
    const table: [(id: string, d: string) => MicroError, number, string][] = [
      [errors.badRequest, 400, "Bad Request"],
      [errors.unauthorized, 401, "Unauthorized"],
      [errors.forbidden, 403, "Forbidden"],
      [errors.notFound, 404, "Not Found"],
      [errors.methodNotAllowed, 405, "Method Not Allowed"],
      [errors.timeout, 408, "Request Timeout"],
      [errors.conflict, 409, "Conflict"],
      [errors.internalServerError, 500, "Internal Server Error"],
      [errors.notImplemented, 501, "Not Implemented"],
      [errors.badGateway, 502, "Bad Gateway"],
      [errors.serviceUnavailable, 503, "Service Unavailable"],
      [errors.gatewayTimeout, 504, "Gateway Timeout"],
    ];
    for (const [make, code, status] of table) {
      const e = make("svc.ep", "detail");
      assert.equal(e.code, code);
      assert.equal(e.status, status);
      assert.equal(e.id, "svc.ep");
    }
    assert.equal(errors.new("x", "y", 418).code, 418);
  });
  it("round-trips the wire form without retryable or cause", () => {
    const e = errors.serviceUnavailable("a", "down", new Error("inner"));
    const json = JSON.stringify(e);
    assert.deepEqual(JSON.parse(json), { id: "a", code: 503, detail: "down", status: "Service Unavailable" });
    const back = MicroError.parse(json);
    assert.equal(back.code, 503);
    assert.equal(back.detail, "down");
  });
  it("parses garbage into a 500 that keeps the text", () => {
    const e = MicroError.parse("<html>oops</html>");
    assert.equal(e.code, 500);
    assert.equal(e.detail, "<html>oops</html>");
  });
  it("turns foreign errors into a 500 that hides their message", () => {
    const e = MicroError.from(new Error("db password wrong"), "svc");
    assert.equal(e.code, 500);
    assert.doesNotMatch(e.detail, /password/);
    assert.ok(e.cause instanceof Error);
  });
  it("marks only transport-class errors retryable", () => {
    assert.equal(errors.isRetryable(errors.serviceUnavailable("a", "b")), true);
    assert.equal(errors.isRetryable(errors.badRequest("a", "b")), false);
    assert.equal(errors.isRetryable(new Error("x")), false);
  });
});
