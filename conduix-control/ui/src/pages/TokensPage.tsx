import { useState } from "react";
import { api, errorText } from "../api";
import { Icon } from "../components/Icon";
import { PageHeader } from "../components/Shell";
import { fmtAgo, fmtTime } from "../format";
import { usePoll } from "../hooks";
import type { ApiToken, Role } from "../types";

const ROLES: Role[] = ["viewer", "editor", "admin", "agent"];
/** Lifetimes offered for a new token, in days (null: until revoked). */
const LIFETIMES: [string, number | null][] = [["never", null], ["7 days", 7], ["30 days", 30], ["90 days", 90],
  ["1 year", 365]];

/** API tokens for the CLI, agents and scripts (admins only); a new token is shown once. */
export function TokensPage() {
  const tokens = usePoll(() => api.get<ApiToken[]>("/auth/tokens"), 0);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [lifetime, setLifetime] = useState(0);
  const [created, setCreated] = useState<ApiToken | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function create() {
    setError(null);
    setCopied(false);
    try {
      const token = await api.post<ApiToken>("/auth/tokens",
        { name: name.trim(), role, expires_in_days: LIFETIMES[lifetime][1] });
      setCreated(token);
      setName("");
      await tokens.reload();
    } catch (err) {
      setError(errorText(err));
    }
  }

  async function revoke(token: ApiToken) {
    setError(null);
    try {
      await api.del(`/auth/tokens/${token.id}`);
      if (created?.id === token.id) setCreated(null);
      await tokens.reload();
    } catch (err) {
      setError(errorText(err));
    }
  }

  async function copy(text: string) {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }

  return (
    <>
      <PageHeader title="API tokens"
        subtitle={<>For the CLI (<code>--token</code> / <code>CONDUIX_CONTROL_TOKEN</code>), agents and scripts:
          sent as <code>Authorization: Bearer cdx_…</code>.</>} />
      <div className="card">
        <div className="card-head"><h2>New token</h2></div>
        <div className="form-row">
          <label>
            <span>Name</span>
            <input className="input" data-testid="token-name" value={name} placeholder="e.g. ci-deploy"
              onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            <span>Role</span>
            <select className="input" data-testid="token-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </label>
          <label>
            <span>Expires</span>
            <select className="input" data-testid="token-lifetime" value={lifetime}
              onChange={(e) => setLifetime(Number(e.target.value))}>
              {LIFETIMES.map(([label], i) => <option key={label} value={i}>{label}</option>)}
            </select>
          </label>
          <button className="btn btn-primary" data-testid="token-create" disabled={!name.trim()} onClick={() => void create()}>
            <Icon name="key" /> Create token
          </button>
        </div>
        {created?.token && (
          <div className="token-once">
            <p><strong>Copy the token now:</strong> it is not shown again.</p>
            <div className="token-box">
              <code data-testid="token-value">{created.token}</code>
              <button className="btn btn-small" onClick={() => void copy(created.token!)}>
                <Icon name="copy" size={14} /> {copied ? "Copied" : "Copy"}
              </button>
            </div>
          </div>
        )}
        {error && <div className="alert alert-error">{error}</div>}
      </div>
      {tokens.error && <div className="alert alert-error">{tokens.error}</div>}
      <div className="card">
        <table className="table">
          <thead>
            <tr><th>Name</th><th>Role</th><th>Token</th><th>Created by</th><th>Created</th><th>Last used</th><th>Expires</th><th /></tr>
          </thead>
          <tbody>
            {(tokens.data ?? []).map((t) => (
              <tr key={t.id} data-testid={`token-row-${t.id}`}>
                <td><strong>{t.name}</strong></td>
                <td><span className={`role role-${t.role}`}>{t.role}</span></td>
                <td><code>{t.prefix}…</code></td>
                <td>{t.created_by ?? "—"}</td>
                <td className="muted">{fmtTime(t.created_at)}</td>
                <td className="muted">{t.last_used_at ? fmtAgo(t.last_used_at) : "never"}</td>
                <td className="muted">{t.expires_at ? fmtTime(t.expires_at) : "never"}</td>
                <td className="row-actions">
                  <button className="btn btn-small btn-ghost-danger" data-testid={`token-revoke-${t.id}`}
                    onClick={() => void revoke(t)}>
                    <Icon name="trash" size={14} /> Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!tokens.loading && (tokens.data ?? []).length === 0 && (
          <div className="empty"><p className="muted">No tokens yet.</p></div>
        )}
      </div>
    </>
  );
}
