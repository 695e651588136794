import { useEffect, useState } from "react";
import { Link, NavLink, useLocation, useParams } from "react-router-dom";
import { api, errorText, pipelinePath } from "../api";
import { useAuth } from "../auth";
import { Icon, type IconName } from "../components/Icon";
import { PageHeader } from "../components/Shell";
import { StatusBadge } from "../components/StatusBadge";
import { fmtAgo } from "../format";
import { usePoll } from "../hooks";
import type { PipelineDetail } from "../types";
import { EditorTab } from "./pipeline/EditorTab";
import { GraphTab } from "./pipeline/GraphTab";
import { LiveTab } from "./pipeline/LiveTab";
import { VersionsTab } from "./pipeline/VersionsTab";

const TABS = ["editor", "live", "versions", "graph"] as const;
type Tab = (typeof TABS)[number];
const TAB_LABEL: Record<Tab, string> = { editor: "Editor", live: "Live", versions: "Versions", graph: "Graph" };

const ACTIONS: { action: string; label: string; icon: IconName }[] = [
  { action: "start", label: "Start", icon: "play" },
  { action: "stop", label: "Stop", icon: "stop" },
  { action: "pause", label: "Pause", icon: "pause" },
  { action: "resume", label: "Resume", icon: "play" },
  { action: "restart", label: "Restart", icon: "restart" },
];

interface ActionResult {
  desired: string;
  commands: { state: string }[];
}

/** One pipeline: state and actions on top, then its editor, live view, versions and graph. */
export function PipelinePage() {
  const params = useParams();
  const name = params.name ?? "";
  const location = useLocation();
  const savedNote = (location.state as { saved?: string } | null)?.saved;
  const tab: Tab = TABS.includes(params.tab as Tab) ? (params.tab as Tab) : "editor";
  const { canEdit } = useAuth();
  const detail = usePoll(() => api.get<PipelineDetail>(pipelinePath(name)), 3000, [name]);
  const p = detail.data?.name === name ? detail.data : undefined;
  // The text the editor starts from: set on first load and after a rollback, never by the polling.
  const [seed, setSeed] = useState<{ name: string; key: number; yaml: string } | null>(null);
  if (p && seed?.name !== name) setSeed({ name, key: p.current_version, yaml: p.yaml });
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => {
    if (!notice?.ok) return;
    const timer = window.setTimeout(() => setNotice(null), 6000);
    return () => window.clearTimeout(timer);
  }, [notice]);

  async function act(action: string) {
    setBusy(action);
    setNotice(null);
    try {
      const r = await api.post<ActionResult>(pipelinePath(name, action));
      const pending = r.commands.filter((c) => c.state === "pending").length;
      setNotice({ ok: true, text: `${action}: desired state ${r.desired}`
        + (r.commands.length ? `, ${r.commands.length} command(s)${pending ? ` (${pending} waiting for the agent)` : ""}` : "") });
      await detail.reload();
    } catch (err) {
      setNotice({ ok: false, text: `${action} failed: ${errorText(err)}` });
    } finally {
      setBusy(null);
    }
  }

  async function reloadAfterRollback() {
    const fresh = await api.get<PipelineDetail>(pipelinePath(name));
    setSeed({ name, key: Date.now(), yaml: fresh.yaml });
    await detail.reload();
  }

  if (!p && detail.error) {
    return (
      <>
        <PageHeader title={name} subtitle={<Link to="/pipelines">← Pipelines</Link>} />
        <div className="alert alert-error">{detail.error}</div>
      </>
    );
  }

  const base = `/pipelines/${encodeURIComponent(name)}`;
  return (
    <>
      <PageHeader
        title={<>{name} {p && <StatusBadge status={p.status ?? p.desired} />}</>}
        subtitle={p ? (
          <>
            <Link to="/pipelines">Pipelines</Link> · version {p.current_version} · {p.replicas} replica
            {p.replicas === 1 ? "" : "s"} · desired <StatusBadge status={p.desired} testId="pipeline-desired" />
            · updated {fmtAgo(p.updated_at)}
          </>
        ) : "Loading…"}>
        <div className="btn-group">
          {ACTIONS.map(({ action, label, icon }) => (
            <button key={action} className="btn" data-testid={`action-${action}`} disabled={!canEdit || busy !== null}
              title={canEdit ? `${label} the pipeline` : "Viewers cannot change pipelines"}
              onClick={() => void act(action)}>
              <Icon name={icon} /> {label}
            </button>
          ))}
        </div>
      </PageHeader>
      {notice && <div className={`alert ${notice.ok ? "alert-info" : "alert-error"}`} data-testid="action-status">{notice.text}</div>}
      <nav className="tabs">
        {TABS.map((t) => (
          <NavLink key={t} to={`${base}/${t}`} data-testid={`tab-${t}`}
            className={() => `tab${t === tab ? " active" : ""}`}>{TAB_LABEL[t]}</NavLink>
        ))}
      </nav>
      {tab === "editor" && seed?.name === name && (
        <EditorTab key={seed.key} name={name} yaml={seed.yaml} readOnly={!canEdit}
          onSaved={() => void detail.reload()} savedNote={savedNote} />
      )}
      {tab === "live" && <LiveTab name={name} />}
      {tab === "versions" && p && (
        <VersionsTab name={name} current={p.current_version} canEdit={canEdit} onRolledBack={reloadAfterRollback} />
      )}
      {tab === "graph" && p && <GraphTab name={name} version={p.current_version} yaml={p.yaml} />}
    </>
  );
}
