/** Registry records → MCP tools, and the auth rules on them: names, schemas, opt-outs, filtering. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errors, memoryRegistry, memoryStore, newAuth, type Client, type ServiceRecord } from "@micro-ts/micro";
import { mcpAuth, mcpTools, MAX_TOOL_NAME, toolEntries, toolName } from "@micro-ts/server";

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function record(name: string, endpoints: { name: string; metadata?: Record<string, string> }[], extra: Partial<ServiceRecord> = {}): ServiceRecord {
  return { name, version: "latest", endpoints, nodes: [{ id: `${name}-1`, address: "127.0.0.1:1" }], ...extra };
}

describe("MCP tool names", () => {
  it("joins service and endpoint, keeping to the MCP name charset", () => {
    assert.equal(toolName("greeter", "Greeter.Hello"), "greeter_Greeter_Hello");
    assert.equal(toolName("go.micro.srv.greeter", "Say.Hello"), "go_micro_srv_greeter_Say_Hello");
    assert.equal(toolName("v1/greeter ünï", "Greeter.Hello"), "v1_greeter_n__Greeter_Hello");
  });

  it("cuts long names to 64 characters with a stable hash of the full name", () => {
    const long = "a-very-long-service-name-that-goes-on-and-on-and-on-forever";
    const a = toolName(long, "Handler.MethodOne");
    const b = toolName(long, "Handler.MethodTwo");
    assert.equal(a.length, MAX_TOOL_NAME);
    assert.match(a, NAME);
    assert.notEqual(a, b);
    assert.equal(toolName(long, "Handler.MethodOne"), a, "deterministic");
  });

  it("gives names two endpoints would share a hash each, whatever the registry's order", () => {
    const recs = [record("v1.greeter", [{ name: "Greeter.Hello" }]), record("v1_greeter", [{ name: "Greeter.Hello" }])];
    const one = toolEntries(recs).map((t) => t.tool.name);
    const two = toolEntries([...recs].reverse()).map((t) => t.tool.name);
    assert.deepEqual(one, two);
    assert.equal(new Set(one).size, 2);
    for (const n of one) assert.match(n, /^v1_greeter_Greeter_Hello_[0-9a-f]{8}$/);
  });
});

describe("MCP tools from records", () => {
  it("skips opted-out endpoints and micro server's core services, merges versions", () => {
    const tools = toolEntries([
      record("greeter", [{ name: "Greeter.Hello" }, { name: "Greeter.Admin", metadata: { mcp: "false" } }], { version: "1" }),
      record("greeter", [{ name: "Greeter.Hello", metadata: { description: "from v2" } }, { name: "Greeter.New" }], { version: "2" }),
      record("store", [{ name: "Store.Read" }], { metadata: { server: "micro-ts" } }),
    ]);
    assert.deepEqual(tools.map((t) => t.tool.name), ["greeter_Greeter_Hello", "greeter_Greeter_New"]);
    assert.match(tools[0]!.tool.description, /^from v2/);
    const all = toolEntries([record("store", [{ name: "Store.Read" }], { metadata: { server: "micro-ts" } })], { include: () => true });
    assert.equal(all.length, 1);
  });

  it("falls back to a permissive object schema, and says why", () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /No request schema was declared/],
      ["{not json", /not valid JSON/],
      [JSON.stringify({ type: "string" }), /does not describe a JSON object/],
      [JSON.stringify({ type: "object", properties: { a: true } }), /could not be passed on/],
    ];
    for (const [schema, why] of cases) {
      const [t] = toolEntries([record("s", [{ name: "H.M", metadata: schema ? { request_schema: schema } : {} }])]);
      assert.deepEqual(t!.tool.inputSchema, { type: "object", additionalProperties: true });
      assert.match(t!.tool.description, why);
    }
    const [t] = toolEntries([record("s", [{ name: "H.M", metadata: { request_schema: JSON.stringify({ properties: { a: { type: "number" } } }) } }])]);
    assert.deepEqual(t!.tool.inputSchema, { type: "object", properties: { a: { type: "number" } } });
  });

  it("describes streaming endpoints, or leaves them out with maxStreamItems 0", () => {
    const recs = [record("s", [{ name: "H.Watch", metadata: { stream: "true" } }])];
    assert.match(toolEntries(recs, { maxStreamItems: 7 })[0]!.tool.description, /first 7 messages/);
    assert.equal(toolEntries(recs, { maxStreamItems: 0 }).length, 0);
  });
});

describe("mcpAuth on the auth domain", () => {
  const fakeClient = (): Client =>
    ({
      call: async (_s: string, _e: string, req: unknown, o?: { metadata?: Record<string, string> }) => ({ req, authorization: o?.metadata?.["authorization"] ?? null }),
      stream: () => {
        throw errors.notImplemented("test", "no streams");
      },
    }) as unknown as Client;

  it("lists only what the account's rules allow, refuses the rest, and forwards the token", async () => {
    const store = memoryStore();
    const auth = newAuth({ store, hashCost: 1024 });
    const registry = memoryRegistry();
    try {
      await registry.register(record("greeter", [{ name: "Greeter.Hello" }, { name: "Greeter.Admin" }]));
      await auth.grant({ id: "hello", scope: "greeter.user", resource: { type: "service", name: "greeter", endpoint: "Greeter.Hello" }, access: "granted", priority: 0 });
      await auth.grant({ id: "admin", scope: "admin", resource: { type: "*", name: "*", endpoint: "*" }, access: "granted", priority: 0 });
      await auth.generate("ada", { secret: "ada-password-1", scopes: ["greeter.user"] });
      await auth.generate("root", { secret: "root-password-1", scopes: ["admin"] });
      const ada = (await auth.token({ id: "ada", secret: "ada-password-1" })).accessToken;
      const root = (await auth.token({ id: "root", secret: "root-password-1" })).accessToken;
      const tools = mcpTools({ registry, client: fakeClient(), ...mcpAuth({ verifier: auth, rules: auth, rulesTTL: 0 }) });
      try {
        assert.deepEqual((await tools.list(ada)).map((t) => t.name), ["greeter_Greeter_Hello"]);
        assert.deepEqual((await tools.list(root)).map((t) => t.name), ["greeter_Greeter_Admin", "greeter_Greeter_Hello"]);
        assert.deepEqual(await tools.list(undefined), [], "anonymous sees nothing");
        assert.deepEqual(await tools.list("not-a-token"), [], "a bad token sees what anonymous sees");

        const ok = await tools.call("greeter_Greeter_Hello", { name: "Ada" }, ada);
        assert.deepEqual(ok.structuredContent, { req: { name: "Ada" }, authorization: `Bearer ${ada}` });
        const denied = await tools.call("greeter_Greeter_Admin", {}, ada);
        assert.equal(denied.isError, true);
        assert.equal((denied.structuredContent as { error: { code: number } }).error.code, 403);
        const anon = await tools.call("greeter_Greeter_Hello", {}, undefined);
        assert.equal((anon.structuredContent as { error: { code: number } }).error.code, 401);
        const forged = await tools.call("greeter_Greeter_Hello", {}, "not-a-token");
        assert.equal((forged.structuredContent as { error: { code: number } }).error.code, 401);
      } finally {
        tools.close();
      }
    } finally {
      await auth.close();
      await registry.close();
      await store.close();
    }
  });
});
