import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MicroError } from "../errors/errors.js";
import type { Account, Rule } from "./auth.js";
import { validateRule, verifyRules } from "./rules.js";

const rule = (id: string, scope: string, res: [string, string, string], access: Rule["access"] = "granted", priority = 0): Rule => ({
  id, scope, resource: { type: res[0], name: res[1], endpoint: res[2] }, access, priority,
});
const acc = (scopes: string[], issuer = "micro"): Account => ({ id: "a", type: "user", scopes, metadata: {}, issuer });
const res = (name: string, endpoint: string, type = "service") => ({ type, name, endpoint });

/** 0 = allowed, else the error code. */
function outcome(rules: Rule[], a: Account | undefined, r: ReturnType<typeof res>, ns = "micro"): number {
  try {
    verifyRules(rules, a, r, ns);
    return 0;
  } catch (e) {
    assert.ok(e instanceof MicroError);
    return e.code;
  }
}

describe("rules", () => {
  const cases: [string, Rule[], Account | undefined, ReturnType<typeof res>, number][] = [
    ["nothing matches, no account → 401", [], undefined, res("greeter", "Greeter.Hello"), 401],
    ["nothing matches, an account → 403", [], acc(["x"]), res("greeter", "Greeter.Hello"), 403],
    ["public scope lets anonymous in", [rule("p", "", ["service", "greeter", "Greeter.Hello"])], undefined, res("greeter", "Greeter.Hello"), 0],
    ["public rule on another endpoint does not", [rule("p", "", ["service", "greeter", "Greeter.Hello"])], undefined, res("greeter", "Greeter.Bye"), 401],
    ["endpoints match case-insensitively", [rule("d", "", ["service", "greeter", "Greeter.Hello"], "denied", 5), rule("g", "", ["*", "*", "*"])], undefined, res("greeter", "greeter.hello"), 403],
    ["* wildcard on every field", [rule("all", "*", ["*", "*", "*"])], acc([]), res("x", "Y.Z"), 0],
    ["* scope needs an account", [rule("all", "*", ["*", "*", "*"])], undefined, res("x", "Y.Z"), 401],
    ["* scope refuses another namespace's account", [rule("all", "*", ["*", "*", "*"])], acc([], "other"), res("x", "Y.Z"), 403],
    ["+ scope accepts any namespace's account", [rule("any", "+", ["*", "*", "*"])], acc([], "other"), res("x", "Y.Z"), 0],
    ["+ scope needs an account", [rule("any", "+", ["*", "*", "*"])], undefined, res("x", "Y.Z"), 401],
    ["named scope: holder passes", [rule("adm", "admin", ["*", "*", "*"])], acc(["admin"]), res("x", "Y.Z"), 0],
    ["named scope: others refused", [rule("adm", "admin", ["*", "*", "*"])], acc(["user"]), res("x", "Y.Z"), 403],
    ["named scope: holder of another namespace refused", [rule("adm", "admin", ["*", "*", "*"])], acc(["admin"], "other"), res("x", "Y.Z"), 403],
    ["prefix wildcard on name", [rule("g", "*", ["service", "greeter.*", "*"])], acc([]), res("greeter.v2", "A.B"), 0],
    ["prefix wildcard does not match the bare prefix's sibling", [rule("g", "*", ["service", "greeter.*", "*"])], acc([]), res("greeterx", "A.B"), 403],
    ["prefix wildcard on endpoint", [rule("g", "*", ["service", "greeter", "Greeter.*"])], acc([]), res("greeter", "Greeter.Hello"), 0],
    ["type must match", [rule("g", "*", ["topic", "*", "*"])], acc([]), res("greeter", "Greeter.Hello"), 403],
    ["higher priority wins: deny over grant", [rule("g", "*", ["*", "*", "*"], "granted", 0), rule("d", "*", ["service", "greeter", "*"], "denied", 10)], acc([]), res("greeter", "A.B"), 403],
    ["higher priority wins: grant over deny", [rule("g", "*", ["service", "greeter", "*"], "granted", 10), rule("d", "*", ["*", "*", "*"], "denied", 0)], acc([]), res("greeter", "A.B"), 0],
    ["deny before grant at equal priority", [rule("g", "*", ["*", "*", "*"], "granted", 1), rule("d", "*", ["*", "*", "*"], "denied", 1)], acc([]), res("greeter", "A.B"), 403],
    ["deny before grant at equal priority, whatever the order given", [rule("d", "*", ["*", "*", "*"], "denied", 1), rule("g", "*", ["*", "*", "*"], "granted", 1)], acc([]), res("greeter", "A.B"), 403],
    ["first applicable rule decides: a deny for another scope is skipped", [rule("d", "other", ["*", "*", "*"], "denied", 10), rule("g", "*", ["*", "*", "*"], "granted", 0)], acc([]), res("greeter", "A.B"), 0],
    ["public deny refuses even admins", [rule("d", "", ["service", "greeter", "*"], "denied", 10), rule("adm", "admin", ["*", "*", "*"])], acc(["admin"]), res("greeter", "A.B"), 403],
    ["a rule for accounts skipped for anonymous, the public one after it decides", [rule("d", "*", ["*", "*", "*"], "denied", 10), rule("p", "", ["*", "*", "*"], "granted", 0)], undefined, res("greeter", "A.B"), 0],
    ["anonymous denied explicitly → 403", [rule("d", "", ["*", "*", "*"], "denied")], undefined, res("greeter", "A.B"), 403],
  ];
  for (const [name, rules, a, r, want] of cases) {
    it(name, () => assert.equal(outcome(rules, a, r), want));
  }

  it("validates rules from untrusted input", () => {
    assert.deepEqual(validateRule({ id: "r", scope: "", resource: { type: "service", name: "g", endpoint: "G.H" }, access: "granted", priority: 2, extra: 1 }), rule("r", "", ["service", "g", "G.H"], "granted", 2));
    for (const bad of [null, {}, { id: "r", scope: "", resource: {}, access: "maybe" }, { id: "", scope: "", resource: {}, access: "granted" }, { id: "r", scope: 1, resource: {}, access: "granted" }, { id: "r", scope: "", resource: { type: "" }, access: "granted" }, { id: "r", scope: "", resource: {}, access: "granted", priority: 0.5 }]) {
      assert.throws(() => validateRule(bad), (e: unknown) => e instanceof MicroError && e.code === 400);
    }
  });
});
