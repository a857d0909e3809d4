/** The config document (Config.Read), with secret-looking values redacted. */
import { redact, rpc } from "../api";
import { ErrorBox, Json, Page, useLoad } from "../ui";

export function ConfigPage() {
  const c = useLoad(async () => (await rpc<{ value: unknown }>("config", "Config.Read", { path: "" })).value, []);
  return (
    <Page title="Config" actions={<button onClick={c.reload}>Refresh</button>}>
      <ErrorBox error={c.error} />
      <p class="muted">Values under keys that look like secrets (password, token, secret, key, …) are shown as ••••••.</p>
      <div class="card">
        <Json value={redact(c.data ?? {})} testid="config" />
      </div>
    </Page>
  );
}
