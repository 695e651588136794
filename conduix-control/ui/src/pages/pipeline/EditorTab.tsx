import { PipelineEditor } from "../../components/PipelineEditor";

export function EditorTab({ name, yaml, readOnly, onSaved }: { name: string; yaml: string; readOnly: boolean;
  onSaved: () => void }) {
  return <PipelineEditor name={name} initial={yaml} readOnly={readOnly} onSaved={onSaved} />;
}
