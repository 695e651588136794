import type { ConfigProblem } from "../types";

/** "line L, column C: message (hint)", the form the browser tests and the CLI use. */
export function problemText(p: ConfigProblem): string {
  const where = p.line ? (p.column ? `line ${p.line}, column ${p.column}: ` : `line ${p.line}: `) : "";
  return `${where}${p.message}${p.hint ? ` (${p.hint})` : ""}`;
}

export function ProblemList({ problems, onSelect }: { problems: ConfigProblem[];
  onSelect?: (p: ConfigProblem) => void }) {
  return (
    <ul className="problems" data-testid="validation-errors">
      {problems.map((p, i) => (
        <li key={i} data-testid="validation-error" data-line={p.line ?? ""} title={p.path ?? undefined}
          onClick={() => onSelect?.(p)}>
          {problemText(p)}
        </li>
      ))}
    </ul>
  );
}
