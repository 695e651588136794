import { useEffect, useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { ApiError, api, errorText } from "../api";
import { useAuth } from "../auth";
import type { AuthConfig } from "../types";

function Brand() {
  return (
    <div className="login-brand">
      <svg viewBox="0 0 32 32" width="40" height="40" aria-hidden="true">
        <rect width="32" height="32" rx="7" fill="#6366f1" />
        <path d="M8 11h6l4 5-4 5H8m10-10h6M18 21h6" stroke="#fff" strokeWidth="2.6" fill="none"
          strokeLinecap="round" strokeLinejoin="round" />
      </svg>
      <div>
        <h1>Conduix</h1>
        <p>Control plane</p>
      </div>
    </div>
  );
}

/** Sign in: the SSO button when an OIDC provider is configured, else the local user form. */
export function LoginPage() {
  const { me, loading, refresh } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  const target = from && !from.startsWith("/login") ? from : "/pipelines";

  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(() => new URLSearchParams(window.location.search).get("error"));
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.get<AuthConfig>("/auth/config", { quiet401: true })
      .then(setConfig)
      .catch((err) => {
        // A control plane without the auth module: there is nothing to log in to.
        if (err instanceof ApiError && err.status === 404) void refresh();
        else setError(`Cannot reach the control plane: ${errorText(err)}`);
        setConfig({ mode: "local", provider: null });
      });
  }, [refresh]);

  if (!loading && me) return <Navigate to={target} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post("/auth/login", { username, password }, { quiet401: true });
      if (await refresh()) navigate(target, { replace: true });
      else setError("Logged in, but the session was not kept: are cookies allowed for this site?");
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "Wrong user name or password." : errorText(err));
    } finally {
      setBusy(false);
    }
  }

  function sso() {
    window.location.assign(`/auth/login?next=${encodeURIComponent(`/#${target}`)}`);
  }

  return (
    <div className="login-page">
      <div className="login-card">
        <Brand />
        {config === null ? (
          <p className="muted">Loading…</p>
        ) : config.mode === "oidc" ? (
          <div className="login-sso">
            <p className="muted">Sign in with your organisation's account{config.provider ? ` (${config.provider})` : ""}.</p>
            <button className="btn btn-primary btn-block" data-testid="login-sso" onClick={sso}>
              Sign in with SSO
            </button>
          </div>
        ) : (
          <form className="login-form" onSubmit={submit}>
            <label>
              <span>User</span>
              <input data-testid="login-username" autoComplete="username" value={username}
                onChange={(e) => setUsername(e.target.value)} required />
            </label>
            <label>
              <span>Password</span>
              <input data-testid="login-password" type="password" autoComplete="current-password" value={password}
                onChange={(e) => setPassword(e.target.value)} autoFocus required />
            </label>
            <button className="btn btn-primary btn-block" data-testid="login-submit" type="submit" disabled={busy}>
              {busy ? "Signing in…" : "Sign in"}
            </button>
            <p className="login-hint">
              The <code>admin</code> password is set by <code>CONDUIX_CONTROL_ADMIN_PASSWORD</code> at first start,
              or generated and written to the state directory (<code>control/admin-password</code>).
            </p>
          </form>
        )}
        {error && <div className="alert alert-error" data-testid="login-error" role="alert">{error}</div>}
      </div>
    </div>
  );
}
