import { Link, useNavigate } from "react-router-dom";
import { api } from "../api";
import { useAuth } from "../auth";
import { Icon } from "../components/Icon";
import { PageHeader } from "../components/Shell";
import { StatusBadge } from "../components/StatusBadge";
import { fmtAgo, fmtInt, fmtRate } from "../format";
import { usePoll } from "../hooks";
import type { PipelineSummary } from "../types";

/** Every pipeline with its status and throughput, refreshed every 2 s. */
export function PipelinesPage() {
  const { canEdit } = useAuth();
  const navigate = useNavigate();
  const { data, error, loading } = usePoll(() => api.get<PipelineSummary[]>("/pipelines"), 2000);
  const pipelines = data ?? [];
  const running = pipelines.filter((p) => (p.status ?? p.desired) === "running").length;
  const total = pipelines.reduce((sum, p) => sum + (p.throughput ?? 0), 0);

  return (
    <>
      <PageHeader title="Pipelines"
        subtitle={data ? `${pipelines.length} pipelines · ${running} running · ${fmtRate(total)} out` : " "}>
        <button className="btn btn-primary" data-testid="new-pipeline" disabled={!canEdit}
          title={canEdit ? "Create a pipeline" : "Viewers cannot create pipelines"}
          onClick={() => navigate("/pipelines/new")}>
          <Icon name="plus" /> New pipeline
        </button>
      </PageHeader>
      {error && <div className="alert alert-error">{error}</div>}
      <div className="card">
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Desired</th>
              <th className="num">Version</th>
              <th className="num">Replicas</th>
              <th className="num">Throughput</th>
              <th className="num">Records in</th>
              <th className="num">Records out</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {pipelines.map((p) => (
              <tr key={p.name} data-testid={`pipeline-row-${p.name}`}>
                <td>
                  <Link className="strong-link" to={`/pipelines/${encodeURIComponent(p.name)}`}
                    data-testid={`pipeline-link-${p.name}`}>{p.name}</Link>
                </td>
                <td><StatusBadge status={p.status ?? p.desired} testId={`pipeline-status-${p.name}`} /></td>
                <td className="muted">{p.desired}</td>
                <td className="num">v{p.current_version}</td>
                <td className="num">{p.replicas}</td>
                <td className="num" data-testid={`pipeline-throughput-${p.name}`}>{fmtRate(p.throughput ?? 0)}</td>
                <td className="num">{fmtInt(p.records_in ?? 0)}</td>
                <td className="num">{fmtInt(p.records_out ?? 0)}</td>
                <td className="muted" title={new Date(p.updated_at * 1000).toISOString()}>{fmtAgo(p.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!loading && pipelines.length === 0 && (
          <div className="empty">
            <p><strong>No pipelines yet.</strong></p>
            <p className="muted">
              Create one here, or from the command line: <code>conduix pipelines apply pipeline.yaml</code>.
            </p>
          </div>
        )}
      </div>
    </>
  );
}

