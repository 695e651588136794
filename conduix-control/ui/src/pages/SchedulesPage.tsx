import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { ApiError, api, errorText } from "../api";
import { useAuth } from "../auth";
import { Icon } from "../components/Icon";
import { PageHeader } from "../components/Shell";
import { fmtIso } from "../format";
import { useDebounced, usePoll } from "../hooks";
import type { PipelineSummary, Schedule } from "../types";

const PRESETS: { label: string; cron: string }[] = [
  { label: "Every minute", cron: "* * * * *" },
  { label: "Every 15 min", cron: "*/15 * * * *" },
  { label: "Hourly", cron: "0 * * * *" },
  { label: "Daily 02:00", cron: "0 2 * * *" },
  { label: "Weekdays 09:00", cron: "0 9 * * 1-5" },
];

function zones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  return intl.supportedValuesOf ? ["UTC", ...intl.supportedValuesOf("timeZone")] : ["UTC"];
}

type Preview = { runs: string[]; error: null } | { runs: null; error: string } | { runs: null; error: null; note: string } | null;

/** The next fire times of a cron expression, as the control plane computes them. */
function usePreview(cron: string, timezone: string): Preview {
  const settled = useDebounced(`${cron}\u0000${timezone}`, 300);
  const [preview, setPreview] = useState<Preview>(null);
  useEffect(() => {
    const [c, tz] = settled.split("\u0000");
    if (!c.trim()) {
      setPreview(null);
      return;
    }
    let current = true;
    api.post<{ next_runs: string[] }>("/schedules/preview", { cron: c, timezone: tz || "UTC", count: 5 })
      .then((r) => current && setPreview({ runs: r.next_runs, error: null }))
      .catch((err) => {
        if (!current) return;
        // a role without the right to preview: not a problem of the expression
        if (err instanceof ApiError && err.status === 403) setPreview({ runs: null, error: null, note: errorText(err) });
        else setPreview({ runs: null, error: errorText(err) });
      });
    return () => {
      current = false;
    };
  }, [settled]);
  return preview;
}

function NewSchedule({ pipelines, canEdit, onCreated }: { pipelines: string[]; canEdit: boolean;
  onCreated: () => Promise<void> }) {
  const [pipeline, setPipeline] = useState("");
  const [cron, setCron] = useState("*/15 * * * *");
  const [timezone, setTimezone] = useState("UTC");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const preview = usePreview(cron, timezone);
  const zoneList = useMemo(zones, []);
  const chosen = pipeline || pipelines[0] || "";

  async function create() {
    setStatus(null);
    try {
      const s = await api.post<Schedule>("/schedules", { pipeline: chosen, cron, timezone });
      setStatus({ ok: true, text: `Schedule ${s.id} created for ${s.pipeline}.` });
      await onCreated();
    } catch (err) {
      setStatus({ ok: false, text: errorText(err) });
    }
  }

  return (
    <div className="card schedule-form">
      <div className="card-head"><h2>New schedule</h2></div>
      <div className="form-grid">
        <label>
          <span>Pipeline</span>
          <select className="input" data-testid="schedule-pipeline" value={chosen}
            onChange={(e) => setPipeline(e.target.value)}>
            {pipelines.length === 0 && <option value="">no pipelines</option>}
            {pipelines.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </label>
        <label>
          <span>Cron <small className="muted">min hour day month weekday [sec]</small></span>
          <input className="input mono" data-testid="schedule-cron" value={cron} spellCheck={false}
            onChange={(e) => setCron(e.target.value)} />
        </label>
        <label>
          <span>Time zone</span>
          <input className="input" data-testid="schedule-timezone" value={timezone} list="tz-list"
            onChange={(e) => setTimezone(e.target.value)} />
          <datalist id="tz-list">{zoneList.map((z) => <option key={z} value={z} />)}</datalist>
        </label>
      </div>
      <div className="presets">
        {PRESETS.map((p) => (
          <button key={p.cron} className={`chip chip-button${p.cron === cron ? " chip-active" : ""}`}
            onClick={() => setCron(p.cron)}>{p.label}</button>
        ))}
      </div>
      <div className="preview">
        <span className="preview-title">Next fire times</span>
        {preview?.error && <div className="alert alert-error" data-testid="schedule-error">{preview.error}</div>}
        {preview && "note" in preview && <p className="muted small">No preview: {preview.note}</p>}
        <ol className="next-runs" data-testid="schedule-next-runs">
          {(preview?.runs ?? []).map((t) => <li key={t} title={t}>{fmtIso(t, timezone)}</li>)}
        </ol>
      </div>
      <div className="form-actions">
        <button className="btn btn-primary" data-testid="schedule-create"
          disabled={!canEdit || !chosen || !!preview?.error}
          title={canEdit ? "Create the schedule" : "Viewers cannot create schedules"} onClick={() => void create()}>
          <Icon name="plus" /> Create schedule
        </button>
        {status && <span className={status.ok ? "save-ok" : "save-error"} data-testid="schedule-status">{status.text}</span>}
      </div>
    </div>
  );
}

/** Cron schedules: create with a live preview of the next fire times; enable, disable, delete. */
export function SchedulesPage() {
  const { canEdit } = useAuth();
  const schedules = usePoll(() => api.get<Schedule[]>("/schedules"), 10000);
  const pipelines = usePoll(() => api.get<PipelineSummary[]>("/pipelines"), 0);
  const [error, setError] = useState<string | null>(null);

  async function change(run: () => Promise<unknown>) {
    setError(null);
    try {
      await run();
    } catch (err) {
      setError(errorText(err));
    }
    await schedules.reload();
  }

  return (
    <>
      <PageHeader title="Schedules" subtitle="Start pipelines on a cron schedule; the leader fires each tick once." />
      <NewSchedule pipelines={(pipelines.data ?? []).map((p) => p.name)} canEdit={canEdit}
        onCreated={schedules.reload} />
      {(error || schedules.error) && <div className="alert alert-error">{error ?? schedules.error}</div>}
      <div className="card">
        <table className="table">
          <thead>
            <tr><th>#</th><th>Pipeline</th><th>Cron</th><th>Time zone</th><th>Enabled</th><th>Next runs</th><th /></tr>
          </thead>
          <tbody>
            {(schedules.data ?? []).map((s) => (
              <tr key={s.id} data-testid={`schedule-row-${s.id}`} className={s.enabled ? "" : "row-muted"}>
                <td className="muted">{s.id}</td>
                <td><Link className="strong-link" to={`/pipelines/${encodeURIComponent(s.pipeline)}`}>{s.pipeline}</Link></td>
                <td><code>{s.cron}</code></td>
                <td>{s.timezone}</td>
                <td>
                  <label className="switch" title={canEdit ? "Enable or disable" : "Viewers cannot change schedules"}>
                    <input type="checkbox" data-testid={`schedule-toggle-${s.id}`} checked={s.enabled} disabled={!canEdit}
                      onChange={() => void change(() => api.patch(`/schedules/${s.id}`, { enabled: !s.enabled }))} />
                    <span className="slider" />
                  </label>
                </td>
                <td className="small">
                  {s.enabled && s.next_runs.length
                    ? s.next_runs.slice(0, 3).map((t) => <div key={t} title={t}>{fmtIso(t, s.timezone)}</div>)
                    : <span className="muted">{s.enabled ? "—" : "disabled"}</span>}
                </td>
                <td className="row-actions">
                  <button className="btn btn-small btn-ghost-danger" data-testid={`schedule-delete-${s.id}`}
                    disabled={!canEdit} title="Delete the schedule"
                    onClick={() => void change(() => api.del(`/schedules/${s.id}`))}>
                    <Icon name="trash" /> Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!schedules.loading && (schedules.data ?? []).length === 0 && (
          <div className="empty"><p className="muted">No schedules yet.</p></div>
        )}
      </div>
    </>
  );
}
