/** The store browser: databases → tables → keys → a record (secret-looking fields redacted). */
import { useState } from "preact/hooks";
import { redact, rpc } from "../api";
import { ErrorBox, Json, Page, useLoad } from "../ui";

interface WireRecord {
  key: string;
  value?: unknown;
  bytes?: string;
  metadata?: Record<string, unknown>;
  expiry?: number;
}

export function StorePage({ database, table }: { database: string | undefined; table: string | undefined }) {
  const dbs = useLoad(async () => (await rpc<{ databases: string[] }>("store", "Store.Databases")).databases, []);
  const tables = useLoad(async () => (database ? (await rpc<{ tables: string[] }>("store", "Store.Tables", { database })).tables : []), [database]);
  const [prefix, setPrefix] = useState("");
  const keys = useLoad(
    async () => (database && table ? (await rpc<{ keys: string[] }>("store", "Store.List", { options: { database, table, prefix, limit: 500 } })).keys : []),
    [database, table, prefix],
  );
  const [key, setKey] = useState<string>();
  const rec = useLoad(
    async () => (database && table && key !== undefined ? (await rpc<{ records: WireRecord[] }>("store", "Store.Read", { key, options: { database, table } })).records[0] : undefined),
    [database, table, key],
  );
  const enc = encodeURIComponent;
  return (
    <Page title="Store">
      <ErrorBox error={dbs.error ?? tables.error ?? keys.error ?? rec.error} />
      <div class="columns" data-testid="store">
        <div class="card col">
          <h2>Databases</h2>
          <ul class="pick">
            {(dbs.data ?? []).map((d) => (
              <li class={d === database ? "active" : ""}>
                <a href={`#/store/${enc(d)}`}>{d}</a>
              </li>
            ))}
          </ul>
        </div>
        <div class="card col">
          <h2>Tables</h2>
          <ul class="pick">
            {(tables.data ?? []).map((t) => (
              <li class={t === table ? "active" : ""}>
                <a href={`#/store/${enc(database ?? "")}/${enc(t)}`}>{t}</a>
              </li>
            ))}
          </ul>
        </div>
        <div class="card col">
          <h2>Keys</h2>
          <input placeholder="prefix" value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} />
          <ul class="pick">
            {(keys.data ?? []).map((k) => (
              <li class={k === key ? "active" : ""}>
                <button class="link" onClick={() => setKey(k)}>
                  {k}
                </button>
              </li>
            ))}
          </ul>
        </div>
        <div class="card col wide">
          <h2>Value</h2>
          {rec.data ? (
            <>
              <p class="muted">
                <code>{rec.data.key}</code>
                {rec.data.expiry ? ` · expires ${new Date(rec.data.expiry).toLocaleString()}` : ""}
                {rec.data.bytes !== undefined ? ` · ${Math.floor((rec.data.bytes.length * 3) / 4)} bytes (base64)` : ""}
              </p>
              <Json value={rec.data.bytes !== undefined ? rec.data.bytes : redact(rec.data.value)} testid="store-value" />
              {rec.data.metadata ? <Json value={redact(rec.data.metadata)} /> : null}
            </>
          ) : (
            <p class="muted">Pick a key.</p>
          )}
        </div>
      </div>
    </Page>
  );
}
