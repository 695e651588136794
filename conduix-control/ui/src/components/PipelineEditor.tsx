import { useCallback, useRef, useState, type ReactNode, type RefObject } from "react";
import type { EditorView } from "@codemirror/view";
import { ApiError, api, errorText, pipelinePath } from "../api";
import type { ConfigProblem, SaveResult, ValidateResult } from "../types";
import { ProblemList } from "./ProblemList";
import { jumpTo, showProblems, YamlEditor } from "./YamlEditor";

/** Asks the control plane to check `yaml` as pipeline `name`: its problems, or null when it cannot say. */
export async function validatePipeline(name: string, yaml: string): Promise<ConfigProblem[] | null> {
  try {
    const result = await api.post<ValidateResult>(pipelinePath(name || "new-pipeline", "validate"), { yaml });
    return result.valid ? [] : result.errors;
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && err.body && typeof err.body === "object" && "errors" in err.body) {
      return (err.body as { errors: ConfigProblem[] }).errors;
    }
    return null;
  }
}

export interface PipelineEditorProps {
  /** The pipeline's name (for a new pipeline, what the name field holds). */
  name: string;
  initial: string;
  readOnly: boolean;
  /** Why saving is not possible right now (e.g. no name yet); null when it is. */
  blocked?: string | null;
  onSaved?: (result: SaveResult, yaml: string) => void;
  viewRef?: RefObject<EditorView | null>;
  /** Fields shown left of the save button (the name of a new pipeline). */
  toolbar?: ReactNode;
  /** A save that happened on another page (creating the pipeline): shown until the next save. */
  savedNote?: string;
}

type Check = { state: "checking" } | { state: "valid" } | { state: "invalid"; count: number } | { state: "unavailable" };

/** The YAML editor with live validation, the problem list and the save button. */
export function PipelineEditor({ name, initial, readOnly, blocked = null, onSaved, viewRef, toolbar,
  savedNote }: PipelineEditorProps) {
  const ownView = useRef<EditorView | null>(null);
  const view = viewRef ?? ownView;
  const [text, setText] = useState(initial);
  const [saved, setSaved] = useState(initial);
  const [problems, setProblems] = useState<ConfigProblem[]>([]);
  const [check, setCheck] = useState<Check>({ state: "checking" });
  const [comment, setComment] = useState("");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(
    savedNote ? { ok: true, text: savedNote } : null);
  const [saving, setSaving] = useState(false);
  const nameRef = useRef(name);
  nameRef.current = name;

  const validate = useCallback((yaml: string) => validatePipeline(nameRef.current, yaml), []);
  const onProblems = useCallback((found: ConfigProblem[] | null) => {
    setProblems(found ?? []);
    setCheck(found === null ? { state: "unavailable" } : found.length ? { state: "invalid", count: found.length }
      : { state: "valid" });
  }, []);

  async function save() {
    setSaving(true);
    setStatus(null);
    const yaml = view.current?.state.doc.toString() ?? text;
    try {
      const result = await api.put<SaveResult>(pipelinePath(name), { yaml, comment: comment.trim() || null });
      setSaved(yaml);
      setComment("");
      setStatus({ ok: true, text: `Saved version ${result.current_version}${result.changed ? "" : " (no changes)"}` });
      onSaved?.(result, yaml);
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.body && typeof err.body === "object" && "errors" in err.body) {
        const found = (err.body as { errors: ConfigProblem[] }).errors ?? [];
        setProblems(found);
        setCheck({ state: "invalid", count: found.length });
        showProblems(view.current, found);
        setStatus({ ok: false, text: `Not saved: ${found.length} problem${found.length === 1 ? "" : "s"} (listed below)` });
        return;
      }
      setStatus({ ok: false, text: `Not saved: ${errorText(err)}` });
    } finally {
      setSaving(false);
    }
  }

  const dirty = text !== saved;
  const reason = readOnly ? "Viewers cannot save pipelines" : blocked;

  return (
    <div className="card editor-card">
      <div className="editor-toolbar">
        {toolbar}
        <span className={`check check-${check.state}`} data-testid="validation-state">
          {check.state === "checking" && "Checking…"}
          {check.state === "valid" && "✓ Valid"}
          {check.state === "invalid" && `${check.count} problem${check.count === 1 ? "" : "s"}`}
          {check.state === "unavailable" && "Validation unavailable"}
        </span>
        {readOnly && <span className="check check-checking">Read only</span>}
        {dirty && <span className="dirty">Unsaved changes</span>}
        <span className="spacer" />
        {!readOnly && (
          <input className="input comment-input" data-testid="save-comment" placeholder="Change note (optional)"
            value={comment} maxLength={500} onChange={(e) => setComment(e.target.value)} disabled={!!reason} />
        )}
        <button className="btn btn-primary" data-testid="save-pipeline" disabled={!!reason || saving}
          title={reason ?? "Validate and store as a new version"} onClick={() => void save()}>
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
      <YamlEditor initial={initial} readOnly={readOnly} onChange={setText} validate={validate}
        onProblems={onProblems} viewRef={view} />
      <div className="editor-footer">
        {status && (
          <span className={status.ok ? "save-ok" : "save-error"} data-testid="save-status">{status.text}</span>
        )}
        <ProblemList problems={problems} onSelect={(p) => jumpTo(view.current, p)} />
      </div>
    </div>
  );
}
