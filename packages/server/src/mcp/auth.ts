/**
 * The MCP hooks backed by the auth domain: a token is inspected into an account, and the
 * account is checked against the rules as the gateway checks a call — the resource of tool
 * `greeter_Greeter_Hello` is `{ type: "service", name: "greeter", endpoint: "Greeter.Hello" }`.
 */
import { MicroError, rulesGetter, verifyRules, type Account, type RulesSource, type TokenVerifier } from "@micro-ts/micro";
import type { McpAuthorize, McpListAllowed } from "./server.js";

export interface McpAuthOptions {
  /** Turns tokens into accounts: the Auth itself, `serviceAuth(...)` or a `localVerifier(...)`. */
  verifier: TokenVerifier;
  /** The rules: an Auth (or `serviceAuth(...)`), fixed rules, or a getter. Cached for `rulesTTL`. */
  rules: RulesSource;
  /** @default "micro" */
  namespace?: string;
  /** How long the rules are cached, in ms. @default 5000 */
  rulesTTL?: number;
}

/** `authorize` and `listAllowed` for `createMcpServer`, enforcing the auth rules. */
export function mcpAuth(o: McpAuthOptions): { authorize: McpAuthorize; listAllowed: McpListAllowed } {
  if (typeof o?.verifier?.inspect !== "function") throw new TypeError("mcpAuth: `verifier` is required");
  const ns = o.namespace ?? "micro";
  const rules = rulesGetter(o.rules, o.rulesTTL ?? 5000);
  const account = async (token: string | undefined): Promise<Account | undefined> =>
    token ? o.verifier.inspect(token, { namespace: ns }) : undefined;
  return {
    async authorize(token, service, endpoint) {
      verifyRules(await rules(), await account(token), { type: "service", name: service, endpoint }, ns);
    },
    async listAllowed(token, tools) {
      let who: Account | undefined;
      try {
        who = await account(token);
      } catch (e) {
        // A bad token sees what anonymous callers see; its calls are refused with the 401.
        if (!(e instanceof MicroError) || e.code !== 401) throw e;
      }
      const all = await rules();
      return tools.filter((t) => {
        const service = t._meta["micro/service"];
        const endpoint = t._meta["micro/endpoint"];
        if (typeof service !== "string" || typeof endpoint !== "string") return false;
        try {
          verifyRules(all, who, { type: "service", name: service, endpoint }, ns);
          return true;
        } catch {
          return false;
        }
      });
    },
  };
}
