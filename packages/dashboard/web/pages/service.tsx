/** One service: its nodes (health, stats), its endpoints with their shapes, and a form to call one. */
import { useEffect, useRef, useState } from "preact/hooks";
import { CORE, debug, getService, open, rpc, type Endpoint, type Health } from "../api";
import { ErrorBox, HealthBadge, Json, ms, Page, useLoad } from "../ui";

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  default?: unknown;
  enum?: unknown[];
}

function parseSchema(s: string | undefined): Schema | undefined {
  if (!s) return undefined;
  try {
    return JSON.parse(s) as Schema;
  } catch {
    return undefined;
  }
}

/** A starting request from a JSON Schema: defaults, else an empty value of each property's type. */
function example(s: Schema | undefined): unknown {
  if (!s) return {};
  if (s.default !== undefined) return s.default;
  if (s.enum?.length) return s.enum[0];
  const t = Array.isArray(s.type) ? s.type[0] : s.type;
  if (t === "object" || s.properties) return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, example(v)]));
  if (t === "array") return [];
  if (t === "string") return "";
  if (t === "number" || t === "integer") return 0;
  if (t === "boolean") return false;
  return null;
}

const isStream = (e: Endpoint) => e.metadata?.["stream"] === "true";

/** `greeter`, `Greeter.SayHello` → `greeter/greeter/say-hello`: the gateway path for a WebSocket. */
function wsPath(service: string, endpoint: string): string {
  const [h = "", m = ""] = endpoint.split(".");
  const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  return `${encodeURIComponent(service)}/${kebab(h)}/${kebab(m)}`;
}

function CallForm({ service, endpoints }: { service: string; endpoints: Endpoint[] }) {
  const first = (n: string) => JSON.stringify(example(parseSchema(endpoints.find((e) => e.name === n)?.metadata?.["request_schema"])), null, 2);
  const [name, setName] = useState(endpoints[0]?.name ?? "");
  const ep = endpoints.find((e) => e.name === name);
  const [body, setBody] = useState(() => first(name));
  const [result, setResult] = useState<{ value?: unknown; items?: unknown[]; error?: Error; took?: number; running?: boolean }>();
  const closer = useRef<(() => void) | undefined>(undefined);
  // switching endpoints resets the request right away (not in an effect: typing may follow at once)
  const choose = (n: string) => {
    closer.current?.();
    setName(n);
    setBody(first(n));
    setResult(undefined);
  };
  useEffect(() => () => closer.current?.(), []);
  const call = async (e: Event) => {
    e.preventDefault();
    closer.current?.();
    let req: unknown;
    try {
      req = JSON.parse(body || "{}");
    } catch (err) {
      return setResult({ error: new Error(`the request is not JSON: ${(err as Error).message}`) });
    }
    const t0 = performance.now();
    if (ep && isStream(ep)) {
      const items: unknown[] = [];
      setResult({ items, running: true });
      closer.current = open(wsPath(service, ep.name), req, {
        item: (v) => {
          items.push(v);
          setResult({ items: [...items], running: true });
        },
        end: (error) => setResult({ items: [...items], running: false, took: performance.now() - t0, ...(error ? { error } : {}) }),
      });
      return;
    }
    setResult({ running: true });
    try {
      const value = await rpc(service, name, req);
      setResult({ value, took: performance.now() - t0 });
    } catch (err) {
      setResult({ error: err as Error, took: performance.now() - t0 });
    }
  };
  return (
    <form class="card form" onSubmit={call} data-testid="call-form">
      <h2>Call</h2>
      <label>
        Endpoint
        <select name="endpoint" value={name} onChange={(e) => choose(e.currentTarget.value)}>
          {endpoints.map((e) => (
            <option value={e.name}>
              {e.name}
              {isStream(e) ? " (stream)" : ""}
            </option>
          ))}
        </select>
      </label>
      <label>
        Request (JSON)
        <textarea name="request" rows={6} spellcheck={false} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
      </label>
      <div class="row">
        <button type="submit">{ep && isStream(ep) ? "Open stream" : "Call"}</button>
        {result?.running && ep && isStream(ep) ? (
          <button type="button" onClick={() => (closer.current?.(), setResult((r) => ({ ...r, running: false })))}>
            Stop
          </button>
        ) : null}
        {result?.took !== undefined ? <span class="muted">{ms(result.took)}</span> : null}
      </div>
      <ErrorBox error={result?.error} />
      {result?.value !== undefined ? <Json value={result.value} testid="response" /> : null}
      {result?.items ? (
        <ol class="stream" data-testid="stream">
          {result.items.map((v) => (
            <li>
              <code>{JSON.stringify(v)}</code>
            </li>
          ))}
        </ol>
      ) : null}
    </form>
  );
}

function NodeHealth({ service, address }: { service: string; address: string }) {
  const h = useLoad(() => debug<Health>(service, "Debug.Health", {}, address), [service, address]);
  return <HealthBadge status={h.error ? "n/a" : h.data?.status} title={h.error?.message ?? JSON.stringify(h.data?.checks ?? {})} />;
}

interface Stats {
  uptime: number;
  requests: number;
  errors: number;
  inflight: number;
  memory: { rss: number };
  endpoints: { name: string; requests: number; errors: number; latency: { p50: number; p99: number } }[];
}

function StatsCard({ service }: { service: string }) {
  const s = useLoad(() => debug<Stats>(service, "Debug.Stats"), [service]);
  if (s.error || !s.data) return null;
  const d = s.data;
  return (
    <div class="card">
      <h2>Stats</h2>
      <p class="muted">
        up {Math.round(d.uptime)} s · {d.requests} requests · {d.errors} errors · {d.inflight} in flight · {(d.memory.rss / 2 ** 20).toFixed(0)} MB RSS
      </p>
      <table class="grid">
        <thead>
          <tr>
            <th>Endpoint</th>
            <th>Requests</th>
            <th>Errors</th>
            <th>p50</th>
            <th>p99</th>
          </tr>
        </thead>
        <tbody>
          {d.endpoints.map((e) => (
            <tr>
              <td>{e.name}</td>
              <td>{e.requests}</td>
              <td>{e.errors}</td>
              <td>{ms(e.latency.p50)}</td>
              <td>{ms(e.latency.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ServicePage({ name }: { name: string }) {
  const recs = useLoad(() => getService(name), [name]);
  const records = recs.data ?? [];
  const endpoints: Endpoint[] = [];
  for (const r of records) for (const e of r.endpoints ?? []) if (!endpoints.some((x) => x.name === e.name)) endpoints.push(e);
  endpoints.sort((a, b) => a.name.localeCompare(b.name));
  const core = CORE.has(name);
  return (
    <Page
      title={name}
      actions={
        core ? null : (
          <>
            <a href={`#/logs/${encodeURIComponent(name)}`}>Logs</a> <a href={`#/traces?service=${encodeURIComponent(name)}`}>Traces</a>
          </>
        )
      }
    >
      <ErrorBox error={recs.error} />
      <div class="card">
        <h2>Nodes</h2>
        <table class="grid" data-testid="nodes">
          <thead>
            <tr>
              <th>Version</th>
              <th>Id</th>
              <th>Address</th>
              <th>Health</th>
            </tr>
          </thead>
          <tbody>
            {records.flatMap((r) =>
              r.nodes.map((n) => (
                <tr>
                  <td>{r.version}</td>
                  <td>
                    <code>{n.id}</code>
                  </td>
                  <td>
                    <code>{n.address}</code>
                  </td>
                  <td>{core ? <HealthBadge status="n/a" /> : <NodeHealth service={name} address={n.address} />}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
      {endpoints.length ? <CallForm key={name} service={name} endpoints={endpoints} /> : null}
      <div class="card">
        <h2>Endpoints</h2>
        {endpoints.map((e) => (
          <details class="endpoint" data-endpoint={e.name}>
            <summary>
              <code>{e.name}</code>
              {isStream(e) ? <span class="tag">stream</span> : null}
              {e.metadata?.["description"] ? <span class="muted"> — {e.metadata["description"]}</span> : null}
            </summary>
            <div class="shapes">
              <div>
                <h3>Request</h3>
                <Json value={parseSchema(e.metadata?.["request_schema"]) ?? "no schema declared"} />
              </div>
              <div>
                <h3>Response</h3>
                <Json value={parseSchema(e.metadata?.["response_schema"]) ?? (isStream(e) ? "a stream; no schema declared" : "no schema declared")} />
              </div>
            </div>
          </details>
        ))}
      </div>
      {core ? null : <StatsCard service={name} />}
    </Page>
  );
}
