/** Every registered service: versions, nodes, and health from Debug.Health where a service answers it. */
import { useEffect, useState } from "preact/hooks";
import { CORE, debug, listServices, type Health, type ServiceRecord } from "../api";
import { ErrorBox, HealthBadge, Page, useLoad } from "../ui";

interface Row {
  name: string;
  versions: string[];
  nodes: number;
  endpoints: number;
}

function rows(records: ServiceRecord[]): Row[] {
  const by = new Map<string, Row>();
  for (const r of records) {
    const row = by.get(r.name) ?? { name: r.name, versions: [], nodes: 0, endpoints: 0 };
    if (!row.versions.includes(r.version)) row.versions.push(r.version);
    row.nodes += r.nodes?.length ?? 0;
    row.endpoints = Math.max(row.endpoints, r.endpoints?.length ?? 0);
    by.set(r.name, row);
  }
  // the user's services first, then the core ones
  return [...by.values()].sort((a, b) => Number(CORE.has(a.name)) - Number(CORE.has(b.name)) || a.name.localeCompare(b.name));
}

export function ServicesPage() {
  const list = useLoad(listServices, []);
  const [health, setHealth] = useState<Record<string, { status: string; title?: string }>>({});
  useEffect(() => {
    for (const r of rows(list.data ?? [])) {
      if (CORE.has(r.name)) continue;
      debug<Health>(r.name, "Debug.Health").then(
        (h) => setHealth((x) => ({ ...x, [r.name]: { status: h.status, title: JSON.stringify(h.checks) } })),
        (e: Error) => setHealth((x) => ({ ...x, [r.name]: { status: "n/a", title: e.message } })),
      );
    }
  }, [list.data]);
  return (
    <Page title="Services" actions={<button onClick={list.reload}>Refresh</button>}>
      <ErrorBox error={list.error} />
      <table class="grid" data-testid="services">
        <thead>
          <tr>
            <th>Name</th>
            <th>Versions</th>
            <th>Nodes</th>
            <th>Endpoints</th>
            <th>Health</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows(list.data ?? []).map((r) => (
            <tr data-service={r.name}>
              <td>
                <a href={`#/services/${encodeURIComponent(r.name)}`}>{r.name}</a>
                {CORE.has(r.name) ? <span class="tag">core</span> : null}
              </td>
              <td>{r.versions.join(", ")}</td>
              <td>{r.nodes}</td>
              <td>{r.endpoints}</td>
              <td>{CORE.has(r.name) ? <HealthBadge status="n/a" title="core services answer no Debug calls" /> : <HealthBadge status={health[r.name]?.status} title={health[r.name]?.title} />}</td>
              <td class="links">
                {CORE.has(r.name) ? null : (
                  <>
                    <a href={`#/logs/${encodeURIComponent(r.name)}`}>logs</a> <a href={`#/traces?service=${encodeURIComponent(r.name)}`}>traces</a>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.length === 0 ? <p class="muted">No services registered.</p> : null}
    </Page>
  );
}
