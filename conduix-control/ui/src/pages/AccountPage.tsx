import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import { useAuth } from "../auth";
import { PageHeader } from "../components/Shell";
import type { AuthConfig } from "../types";

/** The signed-in user: role, and (local accounts) a password change. */
export function AccountPage() {
  const { me } = useAuth();
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => {
    api.get<AuthConfig>("/auth/config").then(setConfig, () => setConfig(null));
  }, []);

  const mismatch = again.length > 0 && again !== next;
  const local = config?.mode === "local" && me?.via === "session";

  async function change() {
    setStatus(null);
    try {
      await api.post("/auth/password", { current, new: next });
      setCurrent("");
      setNext("");
      setAgain("");
      setStatus({ ok: true, text: "Password changed; your other sessions are signed out." });
    } catch (err) {
      setStatus({ ok: false, text: errorText(err) });
    }
  }

  return (
    <>
      <PageHeader title="Account" subtitle={<>Signed in as <strong>{me?.user}</strong>, role{" "}
        <span className={`role role-${me?.role}`}>{me?.role}</span></>} />
      <div className="card">
        <div className="card-head"><h2>Password</h2></div>
        {local ? (
          <div className="form-row">
            <label>
              <span>Current password</span>
              <input className="input" type="password" data-testid="password-current" value={current}
                autoComplete="current-password" onChange={(e) => setCurrent(e.target.value)} />
            </label>
            <label>
              <span>New password (12 characters or more)</span>
              <input className="input" type="password" data-testid="password-new" value={next}
                autoComplete="new-password" onChange={(e) => setNext(e.target.value)} />
            </label>
            <label>
              <span>New password again</span>
              <input className={`input${mismatch ? " input-invalid" : ""}`} type="password"
                data-testid="password-again" value={again} autoComplete="new-password"
                onChange={(e) => setAgain(e.target.value)} />
            </label>
            <button className="btn btn-primary" data-testid="password-change"
              disabled={!current || next.length < 12 || next !== again} onClick={() => void change()}>
              Change password
            </button>
          </div>
        ) : (
          <p className="muted card-body">Your account is managed by {config?.provider ?? "the sign-in provider"}:
            change your password there.</p>
        )}
        {status && <div className={`alert ${status.ok ? "alert-ok" : "alert-error"}`}
          data-testid="password-status">{status.text}</div>}
      </div>
    </>
  );
}
