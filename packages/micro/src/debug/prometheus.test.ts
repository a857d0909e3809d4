import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { notFound } from "../errors/errors.js";
import type { ServerRequest } from "../server/server.js";
import { prometheusText } from "./prometheus.js";
import { Stats, statsMiddleware } from "./stats.js";

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}
// A real exposition-format parser (a port of the Prometheus Python client's), CommonJS only.
const parse = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

function req(service: string, endpoint: string): ServerRequest {
  return { service, endpoint, body: {}, stream: false, context: { metadata: {}, signal: new AbortController().signal } };
}

async function sampleStats(service: string): Promise<Stats> {
  const stats = new Stats({ service });
  const mw = statsMiddleware(stats);
  for (let i = 0; i < 3; i++) await mw(req(service, "Greeter.Hello"), async () => "hi");
  await assert.rejects(mw(req(service, "Greeter.Hello"), async () => Promise.reject(notFound(service, "who"))));
  await mw(req(service, 'Odd."Name\\'), async () => "x");
  return stats;
}

function family(fams: Family[], name: string): Family {
  const f = fams.find((x) => x.name === name);
  assert.ok(f, `family ${name} missing`);
  return f;
}

describe("prometheusText", () => {
  it("parses with a real exposition-format parser and carries the right values", async () => {
    const stats = await sampleStats("greeter");
    const snap = stats.snapshot();
    const text = prometheusText(snap);
    const fams = parse(text);

    const req = family(fams, "micro_requests_total");
    assert.equal(req.type, "COUNTER");
    const byStatus = (endpoint: string, status: string) =>
      req.metrics.find((m) => m.labels?.["endpoint"] === endpoint && m.labels?.["status"] === status)?.value;
    assert.equal(byStatus("Greeter.Hello", "ok"), "3");
    assert.equal(byStatus("Greeter.Hello", "404"), "1");
    // Label values with quotes and backslashes survive the round trip.
    assert.equal(byStatus('Odd."Name\\', "ok"), "1");
    assert.ok(req.metrics.every((m) => m.labels?.["service"] === "greeter"));

    const dur = family(fams, "micro_request_duration_seconds");
    assert.equal(dur.type, "HISTOGRAM");
    // The parser merges every labelled series of a histogram into one and drops labelled
    // _sum/_count, so read one endpoint's buckets from its own slice and _sum/_count by line.
    const slice = text
      .split("\n")
      .filter((l) => l.startsWith("# TYPE micro_request_duration_seconds ") || l.startsWith('micro_request_duration_seconds_bucket{service="greeter",endpoint="Greeter.Hello",'))
      .join("\n") + "\n";
    const hello = parse(slice)[0]!.metrics[0]!;
    assert.equal(hello.buckets?.["+Inf"], "4");
    assert.deepEqual(Object.keys(hello.buckets!).sort(), ["0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"].sort());
    const bounds = Object.keys(hello.buckets!).filter((b) => b !== "+Inf").sort((a, b) => Number(a) - Number(b));
    const values = bounds.map((b) => Number(hello.buckets![b]));
    for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, "buckets are cumulative");
    const e = snap.endpoints.find((x) => x.name === "Greeter.Hello")!;
    const line = (suffix: string) =>
      Number(new RegExp(`^micro_request_duration_seconds_${suffix}\\{service="greeter",endpoint="Greeter\\.Hello"\\} (\\S+)$`, "m").exec(text)?.[1]);
    assert.equal(line("count"), 4);
    assert.ok(Math.abs(line("sum") - e.latency.sum / 1000) < 1e-9);

    assert.equal(family(fams, "micro_requests_in_flight").metrics[0]!.value, "0");
    assert.equal(family(fams, "micro_requests_in_flight").type, "GAUGE");
    assert.equal(Number(family(fams, "micro_process_resident_memory_bytes").metrics[0]!.value), snap.memory.rss);
    assert.equal(Number(family(fams, "micro_uptime_seconds").metrics[0]!.value), snap.uptime);
    family(fams, "micro_event_loop_lag_p99_seconds");
  });

  it("groups the series of several services under one family each", async () => {
    const text = prometheusText([(await sampleStats("a")).snapshot(), (await sampleStats("b")).snapshot()]);
    const fams = parse(text);
    const names = fams.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, "a family appears twice");
    assert.equal(text.match(/^# TYPE micro_requests_total /gm)?.length, 1);
    const services = new Set(family(fams, "micro_requests_total").metrics.map((m) => m.labels?.["service"]));
    assert.deepEqual([...services].sort(), ["a", "b"]);
    // Every sample line is well formed: name, optional labels, a number.
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/, line);
    }
  });

  it("renders a service without calls", () => {
    const fams = parse(prometheusText(new Stats({ service: "idle" }).snapshot()));
    assert.equal(family(fams, "micro_requests_in_flight").metrics[0]!.labels?.["service"], "idle");
    assert.equal(fams.find((f) => f.name === "micro_requests_total"), undefined);
  });
});
