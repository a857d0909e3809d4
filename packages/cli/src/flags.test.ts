import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parseDynamic, parseValue, toCamel, UsageError } from "./flags.js";

test("flags become JSON fields with numbers and booleans parsed", () => {
  const d = parseDynamic(["hello", "--name=Ada", "--age", "36", "--admin", "--ratio=0.5", "--off=false"]);
  assert.deepEqual(d.words, ["hello"]);
  assert.deepEqual(d.request, { name: "Ada", age: 36, admin: true, ratio: 0.5, off: false });
});

test("dotted flags nest, repeated flags collect, JSON literals parse", () => {
  const d = parseDynamic(["create", "--user.name=Ada", "--user.id=1", "--tag=a", "--tag=b", '--meta={"x":[1]}']);
  assert.deepEqual(d.request, { user: { name: "Ada", id: 1 }, tag: ["a", "b"], meta: { x: [1] } });
});

test("values that only look like numbers stay strings", () => {
  assert.equal(parseValue("007"), "007");
  assert.equal(parseValue("1e3"), 1000);
  assert.equal(parseValue("12abc"), "12abc");
  assert.equal(parseValue("{not json"), "{not json");
  assert.equal(parseValue(""), "");
});

test("CLI flags are kept out of the request", () => {
  const d = parseDynamic(["hello", "--name=Ada", "--output=json", "--timeout", "500", "--help"]);
  assert.deepEqual(d.request, { name: "Ada" });
  assert.deepEqual(d.cli, { output: "json", timeout: 500, help: true });
});

test("malformed flags are usage errors", () => {
  assert.throws(() => parseDynamic(["hello", "-n", "Ada"]), UsageError);
  assert.throws(() => parseDynamic(["hello", "--=x"]), UsageError);
  assert.throws(() => parseDynamic(["hello", "--name=Ada", "stray"]), UsageError);
  assert.throws(() => parseDynamic(["hello", "--timeout=soon"]), UsageError);
});

test("kebab-case becomes CamelCase", () => {
  assert.equal(toCamel("say-hello"), "SayHello");
  assert.equal(toCamel("hello"), "Hello");
});
