/** Shown when a call was refused with 401: logs in with Auth.Token and keeps the token for the session. */
import { useState } from "preact/hooks";
import { rpc, session } from "../api";
import { ErrorBox, Page } from "../ui";

export function Login() {
  const [id, setId] = useState("admin");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<Error>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const r = await rpc<{ token: { accessToken: string } }>("auth", "Auth.Token", { credentials: { id, secret } });
      session.set(r.token.accessToken);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Page title="Log in">
      <p class="muted">This server has auth on. Log in with an account (the admin password is printed once when the server first starts).</p>
      <form class="card form" onSubmit={submit}>
        <label>
          Account id
          <input name="id" value={id} onInput={(e) => setId(e.currentTarget.value)} autoComplete="username" />
        </label>
        <label>
          Secret
          <input name="secret" type="password" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} autoComplete="current-password" />
        </label>
        <button type="submit">Log in</button>
        <ErrorBox error={error} />
      </form>
    </Page>
  );
}
