import { useState } from "react";
import { api } from "../api";
import { PageHeader } from "../components/Shell";
import { fmtTime } from "../format";
import { usePoll } from "../hooks";
import type { AuditEvent } from "../types";

const PAGE = 100;

/** The audit log (admins): who changed what, sign-ins and failed sign-ins, newest first. */
export function AuditPage() {
  const [actor, setActor] = useState("");
  const [before, setBefore] = useState<number[]>([]);  // the pages seen: ids to go back to
  const cursor = before.length ? before[before.length - 1] : undefined;
  const events = usePoll(() => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (actor.trim()) query.set("actor", actor.trim());
    if (cursor !== undefined) query.set("before", String(cursor));
    return api.get<AuditEvent[]>(`/audit?${query}`);
  }, cursor === undefined ? 10000 : 0, [actor, cursor]);
  const rows = events.data ?? [];

  return (
    <>
      <PageHeader title="Audit log"
        subtitle={<>Every change through the API by people and their tokens (refused ones too), sign-ins and
          failed sign-ins. Request bodies are not kept.</>} />
      <div className="card">
        <div className="form-row">
          <label>
            <span>Actor</span>
            <input className="input" data-testid="audit-actor" value={actor} placeholder="e.g. admin or token:ci"
              onChange={(e) => { setActor(e.target.value); setBefore([]); }} />
          </label>
        </div>
      </div>
      {events.error && <div className="alert alert-error">{events.error}</div>}
      <div className="card">
        <table className="table" data-testid="audit-table">
          <thead>
            <tr><th>When</th><th>Who</th><th>Role</th><th>Action</th><th>Target</th><th>Status</th><th>From</th></tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id} data-testid={`audit-row-${e.id}`}>
                <td className="muted">{fmtTime(e.at)}</td>
                <td><strong>{e.actor}</strong>{e.via ? <span className="muted"> ({e.via})</span> : null}</td>
                <td>{e.role ? <span className={`role role-${e.role}`}>{e.role}</span> : "—"}</td>
                <td><code>{e.action}</code></td>
                <td>{e.target ? <code>{e.target}</code> : "—"}</td>
                <td className={e.status !== null && e.status !== undefined && e.status >= 400 ? "save-error" : ""}>
                  {e.status ?? "—"}
                </td>
                <td className="muted">{e.remote ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!events.loading && rows.length === 0 && <div className="empty"><p className="muted">Nothing recorded.</p></div>}
        <div className="form-row">
          <button className="btn btn-small" disabled={before.length === 0}
            onClick={() => setBefore(before.slice(0, -1))}>Newer</button>
          <button className="btn btn-small" data-testid="audit-older" disabled={rows.length < PAGE}
            onClick={() => setBefore([...before, rows[rows.length - 1].id])}>Older</button>
        </div>
      </div>
    </>
  );
}
