import { useEffect, useRef, type RefObject } from "react";
import { basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { Compartment, EditorState, type Text } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import type { ConfigProblem } from "../types";

/** A problem's place in the document: its line from its column to the line's end (line 1 when unknown). */
export function toDiagnostic(doc: Text, p: ConfigProblem): Diagnostic {
  const lineNo = Math.min(Math.max(p.line ?? 1, 1), doc.lines);
  const line = doc.line(lineNo);
  const from = p.column ? Math.min(line.to, line.from + p.column - 1) : line.from;
  return {
    from,
    to: Math.max(from, line.to),
    severity: "error",
    message: p.hint ? `${p.message}\n${p.hint}` : p.message,
    source: p.path ?? undefined,
  };
}

/** Answers the problems of a YAML text, or null when it cannot be checked right now. */
export type Validator = (text: string) => Promise<ConfigProblem[] | null>;

export interface YamlEditorProps {
  initial: string;
  readOnly?: boolean;
  onChange?: (text: string) => void;
  /** Called ~300 ms after typing stops; its problems become lint markers. */
  validate?: Validator;
  /** Every validation's answer (null: validation unavailable), for the list under the editor. */
  onProblems?: (problems: ConfigProblem[] | null) => void;
  /** Lets the page replace the text or mark problems found on save. */
  viewRef?: RefObject<EditorView | null>;
}

const theme = EditorView.theme({
  "&": { fontSize: "13px", height: "100%" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-gutters": { backgroundColor: "var(--code-gutter)", borderRight: "1px solid var(--border)", color: "#94a3b8" },
  ".cm-activeLineGutter": { backgroundColor: "#eef2ff" },
  ".cm-activeLine": { backgroundColor: "#f8faff" },
  "&.cm-focused": { outline: "none" },
});

/** CodeMirror 6 with YAML highlighting and a linter backed by the control plane's validation. */
export function YamlEditor({ initial, readOnly = false, onChange, validate, onProblems, viewRef }: YamlEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const readOnlyConf = useRef(new Compartment());
  // The latest callbacks, so the editor is built once and never sees stale props.
  const callbacks = useRef({ onChange, validate, onProblems });
  callbacks.current = { onChange, validate, onProblems };

  useEffect(() => {
    if (!host.current) return;
    const source = async (v: EditorView): Promise<Diagnostic[]> => {
      const check = callbacks.current.validate;
      if (!check) return [];
      const doc = v.state.doc;
      const problems = await check(doc.toString());
      if (v.state.doc !== doc) return []; // typed on meanwhile: the next run answers
      callbacks.current.onProblems?.(problems);
      return (problems ?? []).map((p) => toDiagnostic(doc, p));
    };
    const editor = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: initial,
        extensions: [
          basicSetup,
          keymap.of([indentWithTab]),
          yaml(),
          lintGutter(),
          linter(source, { delay: 300 }),
          theme,
          readOnlyConf.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) callbacks.current.onChange?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    if (viewRef) (viewRef as { current: EditorView | null }).current = editor;
    return () => {
      editor.destroy();
      view.current = null;
      if (viewRef) (viewRef as { current: EditorView | null }).current = null;
    };
    // Built once per mount: remount (a new `key`) to load another text.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    view.current?.dispatch({
      effects: readOnlyConf.current.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
    });
  }, [readOnly]);

  return <div className="yaml-editor" data-testid="yaml-editor" ref={host} />;
}

/** Marks problems found outside the linter (a 422 on save) in the editor's gutter. */
export function showProblems(view: EditorView | null, problems: ConfigProblem[]): void {
  if (!view) return;
  view.dispatch(setDiagnostics(view.state, problems.map((p) => toDiagnostic(view.state.doc, p))));
}

/** Moves the cursor to a problem's line and column. */
export function jumpTo(view: EditorView | null, p: ConfigProblem): void {
  if (!view || !p.line) return;
  const d = toDiagnostic(view.state.doc, p);
  view.dispatch({ selection: { anchor: d.from }, scrollIntoView: true });
  view.focus();
}
