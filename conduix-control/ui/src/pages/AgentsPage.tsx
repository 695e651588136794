import { Link } from "react-router-dom";
import { api } from "../api";
import { PageHeader } from "../components/Shell";
import { StatusBadge } from "../components/StatusBadge";
import { fmtSeconds, fmtTime } from "../format";
import { usePoll } from "../hooks";
import type { Agent, Assignment } from "../types";

/** Agents with their assignments; older control planes list assignments only under /assignments. */
async function loadAgents(): Promise<Agent[]> {
  const agents = await api.get<Agent[]>("/agents");
  if (agents.every((a) => a.assignments !== undefined)) return agents;
  const active = await api.get<Assignment[]>("/assignments?status=active").catch(() => [] as Assignment[]);
  return agents.map((a) => ({ ...a, assignments: a.assignments ?? active.filter((x) => x.agent_id === a.id) }));
}

function heartbeatAge(a: Agent): number {
  return a.heartbeat_age ?? Date.now() / 1000 - a.last_heartbeat;
}

/** Every registered agent, its mode, heartbeat age and pipelines, refreshed every 2 s. */
export function AgentsPage() {
  const { data, error, loading } = usePoll(loadAgents, 2000);
  const agents = data ?? [];
  const online = agents.filter((a) => a.status === "online").length;

  return (
    <>
      <PageHeader title="Agents" subtitle={data ? `${agents.length} registered · ${online} online` : " "} />
      {error && <div className="alert alert-error">{error}</div>}
      <div className="card">
        <table className="table">
          <thead>
            <tr>
              <th>Agent</th><th>Status</th><th>Mode</th><th className="num">Heartbeat age</th>
              <th>Pipelines</th><th className="num">Capacity</th><th>Labels</th><th>Registered</th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => {
              const assigned = (a.assignments ?? []).filter((x) => x.status === "active" || x.status === "paused");
              const age = heartbeatAge(a);
              return (
                <tr key={a.id} data-testid={`agent-row-${a.id}`}>
                  <td><strong>{a.id}</strong><div className="muted small">{a.host}</div></td>
                  <td><StatusBadge status={a.status} /></td>
                  <td><span className={`mode mode-${a.mode}`} data-testid={`agent-mode-${a.id}`}>{a.mode}</span></td>
                  <td className={`num${age > 30 ? " text-amber" : ""}`} data-testid={`agent-age-${a.id}`}
                    title={`${fmtSeconds(age)} ago: ${fmtTime(a.last_heartbeat)}`}>
                    {Math.max(0, Math.round(age))} s
                  </td>
                  <td data-testid={`agent-pipelines-${a.id}`}>
                    {assigned.length === 0 && <span className="muted">none</span>}
                    {assigned.map((x) => (
                      <Link key={x.id} className="chip" to={`/pipelines/${encodeURIComponent(x.pipeline)}`}>
                        {x.pipeline}{x.replica ? ` #${x.replica}` : ""}
                      </Link>
                    ))}
                  </td>
                  <td className="num">{assigned.length} / {a.capacity}</td>
                  <td>
                    {Object.entries(a.labels ?? {}).map(([k, v]) => <span key={k} className="chip chip-grey">{k}={v}</span>)}
                  </td>
                  <td className="muted">{fmtTime(a.registered_at)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {!loading && agents.length === 0 && (
          <div className="empty">
            <p><strong>No agents registered.</strong></p>
            <p className="muted">Start one with <code>conduix agent start --control-url http://…:8470</code>.</p>
          </div>
        )}
      </div>
    </>
  );
}
