import { useState } from "react";
import { Link } from "react-router-dom";
import { ApiError, api, errorText } from "../api";
import { useAuth } from "../auth";
import { Icon } from "../components/Icon";
import { PageHeader } from "../components/Shell";
import { StatusBadge } from "../components/StatusBadge";
import { fmtDuration, fmtInt, fmtShortTime, fmtTime } from "../format";
import { usePoll } from "../hooks";
import type { PipelineSummary, Run } from "../types";

const RETRYABLE = new Set(["failed", "stopped", "lost"]);

/** Nests flat runs under their parents (for control planes without /runs/tree). */
function nest(runs: Run[]): Run[] {
  const byId = new Map(runs.map((r) => [r.id, { ...r, children: [] as Run[] }]));
  const roots: Run[] = [];
  for (const r of byId.values()) {
    const parent = r.parent_run_id !== null ? byId.get(r.parent_run_id) : undefined;
    if (parent) parent.children!.push(r);
    else roots.push(r);
  }
  return roots.sort((a, b) => b.id - a.id);
}

async function loadTree(pipeline: string): Promise<Run[]> {
  const query = `?limit=200${pipeline ? `&pipeline=${encodeURIComponent(pipeline)}` : ""}`;
  try {
    return await api.get<Run[]>(`/runs/tree${query}`);
  } catch (err) {
    // /runs/tree is new; /runs/{id} on an older control plane answers 422 for "tree"
    if (!(err instanceof ApiError) || ![404, 405, 422].includes(err.status)) throw err;
    return nest(await api.get<Run[]>(`/runs${query}`));
  }
}

function count(runs: Run[]): number {
  return runs.reduce((n, r) => n + 1 + count(r.children ?? []), 0);
}

interface RowProps {
  run: Run;
  depth: number;
  collapsed: Set<number>;
  toggle: (id: number) => void;
  canEdit: boolean;
  retry: (run: Run) => void;
}

/** A run and, nested inside it, its child runs (the pipelines it started). */
function RunRow({ run, depth, collapsed, toggle, canEdit, retry }: RowProps) {
  const children = run.children ?? [];
  const open = !collapsed.has(run.id);
  const params = run.parameters && Object.keys(run.parameters).length ? JSON.stringify(run.parameters) : null;
  return (
    <li className="run" data-testid={`run-row-${run.id}`}>
      <div className="run-line">
        <div className="run-name" style={{ paddingLeft: depth * 22 }}>
          {children.length > 0 ? (
            <button className="twisty" aria-label={open ? "Collapse" : "Expand"} data-testid={`run-toggle-${run.id}`}
              onClick={() => toggle(run.id)}>
              <Icon name={open ? "chevronDown" : "chevronRight"} size={14} />
            </button>
          ) : <span className="twisty-space" />}
          <span className="run-id">#{run.id}</span>
          <Link className="strong-link" to={`/pipelines/${encodeURIComponent(run.pipeline)}`}>{run.pipeline}</Link>
          {children.length > 0 && <span className="muted small">{children.length} child run{children.length === 1 ? "" : "s"}</span>}
          {params && <code className="params" title={params}>{params}</code>}
        </div>
        <div><StatusBadge status={run.status} testId={`run-status-${run.id}`} /></div>
        <div className="muted small">{run.agent_id ?? "—"}{run.replica ? ` · replica ${run.replica}` : ""}</div>
        <div className="num">{fmtInt(run.records_in)}</div>
        <div className="num">{fmtInt(run.records_out)}</div>
        <div className={`num${run.errors ? " text-red" : ""}`}>{fmtInt(run.errors)}</div>
        <div className="muted small" title={fmtTime(run.started_at)}>{fmtShortTime(run.started_at)}</div>
        <div className="muted small num">{fmtDuration(run.started_at, run.ended_at)}</div>
        <div className="row-actions">
          {RETRYABLE.has(run.status) && (
            <button className="btn btn-small" data-testid={`run-retry-${run.id}`} disabled={!canEdit}
              title={canEdit ? "Start this run again with the same parameters" : "Viewers cannot retry runs"}
              onClick={() => retry(run)}>
              <Icon name="retry" size={14} /> Retry
            </button>
          )}
        </div>
      </div>
      {run.error && <div className="run-error" style={{ marginLeft: depth * 22 + 40 }}>{run.error}</div>}
      {open && children.length > 0 && (
        <ul className="run-children">
          {children.map((c) => (
            <RunRow key={c.id} run={c} depth={depth + 1} collapsed={collapsed} toggle={toggle} canEdit={canEdit}
              retry={retry} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** Runs as a tree (pipelines of pipelines nest their child runs), refreshed every 2 s; retry failed ones. */
export function RunsPage() {
  const { canEdit } = useAuth();
  const [pipeline, setPipeline] = useState("");
  const [collapsed, setCollapsed] = useState<Set<number>>(new Set());
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const runs = usePoll(() => loadTree(pipeline), 2000, [pipeline]);
  const pipelines = usePoll(() => api.get<PipelineSummary[]>("/pipelines"), 0);
  const roots = runs.data ?? [];

  function toggle(id: number) {
    setCollapsed((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }

  async function retry(run: Run) {
    setNotice(null);
    try {
      const r = await api.post<{ run: Run }>(`/runs/${run.id}/retry`);
      setNotice({ ok: true, text: `Run #${run.id} retried as run #${r.run.id}.` });
      await runs.reload();
    } catch (err) {
      setNotice({ ok: false, text: `Retry of run #${run.id} failed: ${errorText(err)}` });
    }
  }

  return (
    <>
      <PageHeader title="Runs" subtitle={runs.data ? `${count(roots)} runs · ${roots.length} top-level` : " "}>
        <select className="input" value={pipeline} onChange={(e) => setPipeline(e.target.value)} data-testid="runs-pipeline">
          <option value="">All pipelines</option>
          {(pipelines.data ?? []).map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
        </select>
      </PageHeader>
      {notice && <div className={`alert ${notice.ok ? "alert-info" : "alert-error"}`} data-testid="run-notice">{notice.text}</div>}
      {runs.error && <div className="alert alert-error">{runs.error}</div>}
      <div className="card runs-card">
        <div className="run-line run-head">
          <div>Run</div><div>Status</div><div>Agent</div><div className="num">In</div><div className="num">Out</div>
          <div className="num">Errors</div><div>Started</div><div className="num">Duration</div><div />
        </div>
        <ul className="run-tree">
          {roots.map((r) => (
            <RunRow key={r.id} run={r} depth={0} collapsed={collapsed} toggle={toggle} canEdit={canEdit} retry={retry} />
          ))}
        </ul>
        {!runs.loading && roots.length === 0 && <div className="empty"><p className="muted">No runs yet.</p></div>}
      </div>
    </>
  );
}
