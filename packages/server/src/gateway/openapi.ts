/** `GET /openapi.json`: an OpenAPI 3.1 document of every registered endpoint, plus /rpc. */
import type { Endpoint, Registry, ServiceRecord } from "@micro-ts/micro";
import { indexOf, isStream, normalize, type Router } from "./route.js";

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/MicroError" };
const PERMISSIVE: Json = { type: "object" };

/** `SayHello` → `say-hello`. */
function kebab(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/([A-Z])([A-Z][a-z])/g, "$1-$2").toLowerCase();
}

function schema(e: Endpoint, key: "request_schema" | "response_schema"): Json {
  const raw = e.metadata?.[key];
  if (!raw) return PERMISSIVE;
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "object" && v !== null ? (v as Json) : PERMISSIVE;
  } catch {
    return PERMISSIVE;
  }
}

function errorResponses(): Json {
  const content = { "application/json": { schema: ERROR_REF } };
  return {
    "400": { description: "Bad request (malformed JSON, invalid fields)", content },
    "404": { description: "Unknown service or endpoint", content },
    "413": { description: "Request body too large", content },
    "504": { description: "The service did not answer within the gateway timeout", content },
    default: { description: "A MicroError", content },
  };
}

/** The path of an endpoint: `/{service segments}/{handler}/{method}`, kebab-case. */
export function endpointPath(service: string, endpoint: string): string {
  const [h = "", m = ""] = endpoint.split(".");
  return `/${service.split(".").join("/")}/${kebab(h)}/${kebab(m)}`;
}

function operation(service: string, e: Endpoint): Json {
  const stream = isStream(e);
  const description = e.metadata?.["description"];
  const op: Json = {
    operationId: `${service}.${e.name}`,
    summary: `${service} ${e.name}`,
    tags: [service],
    requestBody: { required: false, content: { "application/json": { schema: schema(e, "request_schema") } } },
    responses: {
      "200": {
        description: stream ? "One WebSocket message per item (connect with a WebSocket and send the request as the first message)" : "The reply",
        content: { "application/json": { schema: schema(e, "response_schema") } },
      },
      ...errorResponses(),
    },
  };
  if (description) op["description"] = description;
  if (stream) op["x-micro-stream"] = true;
  return op;
}

async function records(registry: Registry, router: Router): Promise<ServiceRecord[][]> {
  const list = await registry.listServices();
  const names = [...new Set(list.map((s) => s.name))].sort();
  const out: ServiceRecord[][] = [];
  for (const name of names) {
    const withEndpoints = list.filter((s) => s.name === name && (s.endpoints?.length ?? 0) > 0);
    // some registries list services without their endpoints: look them up
    const r = withEndpoints.length > 0 ? withEndpoints : await router.records(name).catch(() => undefined);
    if (r) out.push(r);
  }
  return out;
}

export async function openapi(registry: Registry, router: Router): Promise<Json> {
  const paths: Json = {};
  for (const recs of await records(registry, router)) {
    const service = recs[0]!.name;
    const ix = indexOf(recs);
    for (const name of ix.names) {
      const e = ix.byKey.get(normalize(name))!;
      paths[endpointPath(service, e.name)] = { post: operation(service, e) };
    }
  }
  paths["/rpc"] = {
    post: {
      operationId: "rpc",
      summary: "Call any endpoint explicitly",
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["service", "endpoint"],
              properties: {
                service: { type: "string", examples: ["greeter"] },
                endpoint: { type: "string", examples: ["Greeter.Hello"] },
                request: { type: "object" },
                timeout: { type: "number", description: "ms" },
              },
            },
          },
        },
      },
      responses: { "200": { description: "The endpoint's reply", content: { "application/json": { schema: PERMISSIVE } } }, ...errorResponses() },
    },
  };
  return {
    openapi: "3.1.0",
    info: { title: "Micro API", version: "1.0.0", description: "Every endpoint registered with the registry, through the Micro API gateway." },
    paths,
    components: {
      schemas: {
        MicroError: {
          type: "object",
          required: ["id", "code", "detail", "status"],
          properties: { id: { type: "string" }, code: { type: "integer" }, detail: { type: "string" }, status: { type: "string" } },
        },
      },
    },
  };
}
