/** A service's log buffer, followed live: Debug.Log polled every second with `since`. */
import { useEffect, useRef, useState } from "preact/hooks";
import { debug, type LogRecord } from "../api";
import { ErrorBox, Page, time } from "../ui";
import { ServicePicker } from "./pick";

const MAX = 1000;

export function LogsPage({ service }: { service: string | undefined }) {
  const [records, setRecords] = useState<LogRecord[]>([]);
  const [error, setError] = useState<Error>();
  const [paused, setPaused] = useState(false);
  const [level, setLevel] = useState("");
  const seen = useRef(new Set<string>());
  useEffect(() => {
    if (!service || paused) return;
    let live = true;
    let since: number | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const r = await debug<{ records: LogRecord[] }>(service, "Debug.Log", since === undefined ? { count: 200 } : { since });
        if (!live) return;
        setError(undefined);
        // `since` is inclusive: drop the records already shown at the boundary
        const fresh = r.records.filter((x) => {
          const k = `${x.time}|${x.msg}|${JSON.stringify(x.fields)}`;
          if (seen.current.has(k)) return false;
          seen.current.add(k);
          return true;
        });
        if (r.records.length) since = r.records[r.records.length - 1]!.time;
        if (fresh.length) setRecords((old) => [...old, ...fresh].slice(-MAX));
      } catch (e) {
        if (live) setError(e as Error);
      }
      if (live) timer = setTimeout(() => void poll(), 1000);
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [service, paused]);
  const shown = level ? records.filter((r) => r.level === level || (level === "warn" && r.level === "error")) : records;
  return (
    <Page
      title={service ? `Logs: ${service}` : "Logs"}
      actions={
        <>
          <ServicePicker value={service} href={(n) => `#/logs/${encodeURIComponent(n)}`} />
          <select value={level} onChange={(e) => setLevel(e.currentTarget.value)}>
            <option value="">all levels</option>
            <option value="debug">debug</option>
            <option value="info">info</option>
            <option value="warn">warn+</option>
            <option value="error">error</option>
          </select>
          <button onClick={() => setPaused((p) => !p)}>{paused ? "Follow" : "Pause"}</button>
          <button
            onClick={() => {
              setRecords([]);
            }}
          >
            Clear
          </button>
        </>
      }
    >
      <ErrorBox error={error} />
      {!service ? <p class="muted">Choose a service to follow its logs.</p> : null}
      <div class="logs" data-testid="logs">
        {shown.map((r) => (
          <div class={`log ${r.level}`}>
            <span class="t">{time(r.time)}</span> <span class="lvl">{r.level}</span> <span class="msg">{r.msg}</span>{" "}
            <span class="fields">
              {Object.entries(r.fields ?? {})
                .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
                .join(" ")}
            </span>
          </div>
        ))}
      </div>
    </Page>
  );
}
