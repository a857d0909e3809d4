/** Traces: recent traces of a service (Debug.Trace), and a waterfall of one trace's spans from every service. */
import { CORE, debug, listServices, type Span } from "../api";
import { ErrorBox, ms, Page, time, useLoad } from "../ui";
import { ServicePicker } from "./pick";

interface TraceRow {
  traceId: string;
  root: Span;
  spans: number;
  start: number;
  duration: number;
  error: boolean;
}

function group(spans: Span[]): TraceRow[] {
  const by = new Map<string, Span[]>();
  for (const s of spans) by.set(s.traceId, [...(by.get(s.traceId) ?? []), s]);
  return [...by.entries()]
    .map(([traceId, list]) => {
      const ids = new Set(list.map((s) => s.spanId));
      const root = list.find((s) => !s.parentId || !ids.has(s.parentId)) ?? list[0]!;
      const start = Math.min(...list.map((s) => s.start));
      const end = Math.max(...list.map((s) => s.start + s.duration));
      return { traceId, root, spans: list.length, start, duration: end - start, error: list.some((s) => s.status === "error") };
    })
    .sort((a, b) => b.start - a.start);
}

export function TracesPage({ service }: { service: string | undefined }) {
  const t = useLoad(async () => (service ? (await debug<{ spans: Span[] }>(service, "Debug.Trace", { count: 500 })).spans : []), [service]);
  return (
    <Page
      title="Traces"
      actions={
        <>
          <ServicePicker value={service} href={(n) => `#/traces?service=${encodeURIComponent(n)}`} />
          <button onClick={t.reload}>Refresh</button>
        </>
      }
    >
      <ErrorBox error={t.error} />
      {!service ? <p class="muted">Choose a service to see the traces it took part in.</p> : null}
      <table class="grid" data-testid="traces">
        <thead>
          <tr>
            <th>Started</th>
            <th>Root span</th>
            <th>Spans</th>
            <th>Duration</th>
            <th>Trace id</th>
          </tr>
        </thead>
        <tbody>
          {group(t.data ?? []).map((r) => (
            <tr class={r.error ? "failed" : ""}>
              <td>{time(r.start)}</td>
              <td>{r.root.name}</td>
              <td>{r.spans}</td>
              <td>{ms(r.duration)}</td>
              <td>
                <a href={`#/traces/${r.traceId}?service=${encodeURIComponent(service ?? "")}`}>
                  <code>{r.traceId.slice(0, 16)}…</code>
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

/** Spans in tree order (parents before children), each with its depth. */
function ordered(spans: Span[]): { span: Span; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const kids = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    if (s.parentId && ids.has(s.parentId)) kids.set(s.parentId, [...(kids.get(s.parentId) ?? []), s]);
    else roots.push(s);
  }
  const out: { span: Span; depth: number }[] = [];
  const walk = (s: Span, depth: number) => {
    out.push({ span: s, depth });
    for (const k of kids.get(s.spanId) ?? []) walk(k, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  return out;
}

export function TracePage({ traceId, service }: { traceId: string; service: string | undefined }) {
  // a trace crosses services: ask every one that can answer, and merge
  const t = useLoad(async () => {
    const names = new Set((await listServices()).map((r) => r.name).filter((n) => !CORE.has(n)));
    if (service) names.add(service);
    const all = await Promise.all([...names].map((n) => debug<{ spans: Span[] }>(n, "Debug.Trace", { traceId }).then((r) => r.spans, () => [] as Span[])));
    const seen = new Set<string>();
    return all.flat().filter((s) => !seen.has(s.spanId + s.kind) && seen.add(s.spanId + s.kind));
  }, [traceId]);
  const spans = t.data ?? [];
  const start = spans.length ? Math.min(...spans.map((s) => s.start)) : 0;
  const total = spans.length ? Math.max(...spans.map((s) => s.start + s.duration)) - start || 1 : 1;
  return (
    <Page title={`Trace ${traceId.slice(0, 16)}…`} actions={<a href={`#/traces?service=${encodeURIComponent(service ?? "")}`}>All traces</a>}>
      <ErrorBox error={t.error} />
      <p class="muted">
        <code>{traceId}</code> · {spans.length} spans · {ms(total)}
      </p>
      <div class="waterfall" data-testid="waterfall">
        {ordered(spans).map(({ span, depth }) => (
          <div class={`span-row ${span.status}`} title={JSON.stringify(span.attributes)}>
            <div class="span-name" style={{ paddingLeft: `${depth * 14}px` }}>
              <span class="tag">{span.kind}</span> {span.name}
            </div>
            <div class="span-track">
              <div class="span-bar" style={{ left: `${((span.start - start) / total) * 100}%`, width: `${Math.max(0.5, (span.duration / total) * 100)}%` }} />
            </div>
            <div class="span-dur">{ms(span.duration)}</div>
          </div>
        ))}
      </div>
    </Page>
  );
}
