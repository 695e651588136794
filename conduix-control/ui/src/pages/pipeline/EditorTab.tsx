import { PipelineEditor } from "../../components/PipelineEditor";

export function EditorTab({ name, yaml, readOnly, onSaved, savedNote }: { name: string; yaml: string;
  readOnly: boolean; onSaved: () => void; savedNote?: string }) {
  return <PipelineEditor name={name} initial={yaml} readOnly={readOnly} onSaved={onSaved} savedNote={savedNote} />;
}
