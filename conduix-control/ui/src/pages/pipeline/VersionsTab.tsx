import { useState } from "react";
import { api, errorText, pipelinePath } from "../../api";
import { DiffView } from "../../components/DiffView";
import { fmtTime } from "../../format";
import { usePoll } from "../../hooks";
import type { PipelineVersion } from "../../types";

interface Props {
  name: string;
  current: number;
  canEdit: boolean;
  onRolledBack: () => Promise<void>;
}

/** Every stored version, newest first: diff one against the current version, or roll back to it. */
export function VersionsTab({ name, current, canEdit, onRolledBack }: Props) {
  const { data, error, reload } = usePoll(() => api.get<PipelineVersion[]>(pipelinePath(name, "versions")), 0,
    [name, current]);
  const [diffOf, setDiffOf] = useState<number | null>(null);
  const [confirm, setConfirm] = useState<number | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const versions = [...(data ?? [])].sort((a, b) => b.version - a.version);
  const currentYaml = versions.find((v) => v.version === current)?.yaml ?? "";
  const diffed = versions.find((v) => v.version === diffOf);

  async function rollback(version: number) {
    setConfirm(null);
    try {
      const r = await api.post<{ version: number }>(pipelinePath(name, "rollback"), { version });
      setNotice({ ok: true, text: `Rolled back to version ${version}: stored as version ${r.version}. `
        + "Restart the pipeline to apply it to running replicas." });
      setDiffOf(null);
      await onRolledBack();
      await reload();
    } catch (err) {
      setNotice({ ok: false, text: errorText(err) });
    }
  }

  return (
    <div className="versions">
      {error && <div className="alert alert-error">{error}</div>}
      {notice && <div className={`alert ${notice.ok ? "alert-info" : "alert-error"}`} data-testid="rollback-status">{notice.text}</div>}
      {confirm !== null && (
        <div className="confirm-bar">
          <span>Make version {confirm} the current version again? It is stored as a new version.</span>
          <button className="btn btn-danger" data-testid="confirm-rollback" onClick={() => void rollback(confirm)}>
            Roll back to v{confirm}
          </button>
          <button className="btn" onClick={() => setConfirm(null)}>Cancel</button>
        </div>
      )}
      <div className="card">
        <table className="table">
          <thead>
            <tr><th>Version</th><th>Saved</th><th>Note</th><th className="num">Lines</th><th /></tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version} data-testid={`version-row-${v.version}`} className={v.version === diffOf ? "selected" : ""}>
                <td>
                  <strong>v{v.version}</strong>
                  {v.version === current && <span className="badge badge-blue small-badge">current</span>}
                </td>
                <td className="muted">{fmtTime(v.created_at)}</td>
                <td>{v.comment ?? <span className="muted">—</span>}</td>
                <td className="num">{v.yaml.split("\n").length}</td>
                <td className="row-actions">
                  <button className="btn btn-small" data-testid={`version-diff-${v.version}`}
                    onClick={() => setDiffOf(v.version === diffOf ? null : v.version)}>
                    {v.version === diffOf ? "Hide diff" : "Diff vs current"}
                  </button>
                  <button className="btn btn-small" data-testid={`rollback-${v.version}`}
                    disabled={!canEdit || v.version === current}
                    title={!canEdit ? "Viewers cannot roll back" : v.version === current ? "This is the current version" : `Roll back to version ${v.version}`}
                    onClick={() => setConfirm(v.version)}>
                    Roll back
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {diffed && (
        <div className="card">
          <DiffView before={diffed.yaml} after={currentYaml} beforeLabel={`version ${diffed.version}`}
            afterLabel={`version ${current} (current)`} />
        </div>
      )}
    </div>
  );
}
