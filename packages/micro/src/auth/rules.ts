/**
 * Rule semantics, as in Micro:
 *
 * 1. Keep the rules whose resource type, name and endpoint each match: exactly, by "*", or by a
 *    prefix wildcard ("greeter.*" matches "greeter.anything"). Endpoints compare
 *    case-insensitively, because the server dispatches them case-insensitively.
 * 2. Order them by priority, highest first; at equal priority "denied" before "granted".
 * 3. The first rule that applies to the caller decides. Scope "" applies to everyone (even
 *    without an account), "*" to any account of the namespace, "+" to an account of any
 *    namespace, anything else to accounts of the namespace holding that scope.
 * 4. Nothing applies: refused — 401 when there is no account, 403 otherwise.
 */
import { MicroError } from "../errors/errors.js";
import { ACCESS, AUTH_ERROR_ID, type Account, type Resource, type Rule } from "./auth.js";

function matches(pattern: string, value: string): boolean {
  if (pattern === "*" || pattern === value) return true;
  return pattern.endsWith("*") && value.startsWith(pattern.slice(0, -1));
}

function applies(rule: Rule, account: Account | undefined, namespace: string): boolean {
  const s = rule.scope;
  if (s === "") return true;
  if (!account) return false;
  if (s === "+") return true;
  if (account.issuer !== namespace) return false;
  return s === "*" || account.scopes.includes(s);
}

/** The rules matching a resource, in decision order. */
export function matchingRules(rules: readonly Rule[], resource: Resource): Rule[] {
  const endpoint = resource.endpoint.toLowerCase();
  return rules
    .filter(
      (r) =>
        matches(r.resource.type, resource.type) &&
        matches(r.resource.name, resource.name) &&
        matches(r.resource.endpoint.toLowerCase(), endpoint),
    )
    .sort((a, b) => b.priority - a.priority || (a.access === b.access ? 0 : a.access === "denied" ? -1 : 1));
}

/** The rule that decides, or undefined when none applies. */
export function decidingRule(rules: readonly Rule[], account: Account | undefined, resource: Resource, namespace: string): Rule | undefined {
  return matchingRules(rules, resource).find((r) => applies(r, account, namespace));
}

/**
 * Throws a 401 MicroError (no account) or 403 (an account) unless the rules let `account`
 * reach `resource` in `namespace`. Synchronous and pure: the gateway and the middleware call it
 * with cached rules.
 */
export function verifyRules(rules: readonly Rule[], account: Account | undefined, resource: Resource, namespace: string): void {
  const rule = decidingRule(rules, account, resource, namespace);
  if (rule?.access === "granted") return;
  const what = `${resource.type}:${resource.name}:${resource.endpoint}`;
  if (rule === undefined && !account) throw new MicroError(AUTH_ERROR_ID, `unauthorized: an account is required for ${what}`, 401);
  throw new MicroError(AUTH_ERROR_ID, `forbidden: access to ${what} is denied`, 403);
}

const ID = /^[A-Za-z0-9._:@+*\/-]{1,256}$/;

/** Validates a rule from an untrusted source; returns a clean copy or throws 400. */
export function validateRule(v: unknown): Rule {
  const bad = (why: string) => new MicroError(AUTH_ERROR_ID, `invalid rule: ${why}`, 400);
  if (typeof v !== "object" || v === null) throw bad("not an object");
  const r = v as Partial<Record<keyof Rule, unknown>>;
  if (typeof r.id !== "string" || !ID.test(r.id)) throw bad("id must be 1-256 characters of [A-Za-z0-9._:@+*/-]");
  if (typeof r.scope !== "string" || r.scope.length > 256) throw bad("scope must be a string");
  if (typeof r.access !== "string" || !(ACCESS as readonly string[]).includes(r.access)) throw bad('access must be "granted" or "denied"');
  const priority = r.priority ?? 0;
  if (typeof priority !== "number" || !Number.isSafeInteger(priority)) throw bad("priority must be an integer");
  const res = r.resource as Partial<Record<keyof Resource, unknown>> | undefined;
  if (typeof res !== "object" || res === null) throw bad("resource is required");
  const field = (k: keyof Resource): string => {
    const x = res[k] ?? "*";
    if (typeof x !== "string" || x.length === 0 || x.length > 256) throw bad(`resource.${k} must be a non-empty string`);
    return x;
  };
  return {
    id: r.id,
    scope: r.scope,
    resource: { type: field("type"), name: field("name"), endpoint: field("endpoint") },
    access: r.access as Rule["access"],
    priority,
  };
}
