import { useRef, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import type { EditorView } from "@codemirror/view";
import { useAuth } from "../auth";
import { PipelineEditor } from "../components/PipelineEditor";
import { PageHeader } from "../components/Shell";

const EXAMPLE = `# A pipeline: sources feed transforms feed sinks. Reference: docs/configuration.md
version: 1
name: my-pipeline

sources:
  ticks:
    type: generate
    rate: 10
    record: {message: hello}

sinks:
  discard:
    type: blackhole
    inputs: [ticks]
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

/** Keeps the YAML's top-level `name:` equal to the name field (the control plane requires them to match). */
function syncName(view: EditorView | null, name: string): void {
  if (!view || !name) return;
  const doc = view.state.doc;
  for (let i = 1; i <= doc.lines; i++) {
    const line = doc.line(i);
    const match = /^name:\s*(.*)$/.exec(line.text);
    if (match) {
      const from = line.from + line.text.length - match[1].length;
      if (match[1] !== name) view.dispatch({ changes: { from, to: line.to, insert: name } });
      return;
    }
  }
}

export function NewPipelinePage() {
  const { canEdit } = useAuth();
  const navigate = useNavigate();
  const view = useRef<EditorView | null>(null);
  const [name, setName] = useState("my-pipeline");
  const valid = NAME.test(name);

  return (
    <>
      <PageHeader title="New pipeline"
        subtitle={<><Link to="/pipelines">Pipelines</Link> / new · checked by the control plane as you type</>} />
      <PipelineEditor name={name} initial={EXAMPLE} readOnly={!canEdit} viewRef={view}
        blocked={valid ? null : "Give the pipeline a name (letters, digits, - _ .)"}
        onSaved={(result) => navigate(`/pipelines/${encodeURIComponent(result.name ?? name)}`,
          { state: { saved: `Saved version ${result.current_version}` } })}
        toolbar={
          <label className="inline-field">
            <span>Name</span>
            <input className={`input${valid ? "" : " input-invalid"}`} data-testid="pipeline-name" value={name}
              spellCheck={false} onChange={(e) => {
                setName(e.target.value.trim());
                syncName(view.current, e.target.value.trim());
              }} />
          </label>
        } />
    </>
  );
}
