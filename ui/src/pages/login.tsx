import { useState } from "preact/hooks";
import { ApiError, api, type CallerBody } from "../api.js";

export function LoginPage(props: { onLogin: (caller: CallerBody) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      props.onLogin(await api.login(username, password));
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 401 ? "Wrong user name or password." : String(caught),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <div class="card">
        <h1>Log in to wharf</h1>
        <form onSubmit={submit}>
          <label>
            User name
            <input
              name="username"
              autoComplete="username"
              required
              value={username}
              onInput={(e) => setUsername(e.currentTarget.value)}
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : null}
          <button class="primary" type="submit" disabled={busy}>
            {busy ? "Logging in…" : "Log in"}
          </button>
        </form>
        <p class="note">The same users as the registry: `docker login` works with them too.</p>
      </div>
    </main>
  );
}
