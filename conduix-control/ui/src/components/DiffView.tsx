import { useMemo } from "react";
import { diffLines } from "diff";

interface Row {
  kind: "add" | "del" | "same";
  oldNo: number | null;
  newNo: number | null;
  text: string;
}

function rows(before: string, after: string): Row[] {
  const out: Row[] = [];
  let oldNo = 1;
  let newNo = 1;
  for (const part of diffLines(before, after)) {
    const lines = part.value.replace(/\n$/, "").split("\n");
    for (const text of lines) {
      if (part.added) out.push({ kind: "add", oldNo: null, newNo: newNo++, text });
      else if (part.removed) out.push({ kind: "del", oldNo: oldNo++, newNo: null, text });
      else out.push({ kind: "same", oldNo: oldNo++, newNo: newNo++, text });
    }
  }
  return out;
}

/** A unified line diff: removed lines red, added lines green, with both line numbers. */
export function DiffView({ before, after, beforeLabel, afterLabel }: { before: string; after: string;
  beforeLabel: string; afterLabel: string }) {
  const lines = useMemo(() => rows(before, after), [before, after]);
  const added = lines.filter((l) => l.kind === "add").length;
  const removed = lines.filter((l) => l.kind === "del").length;
  return (
    <div className="diff" data-testid="diff-view">
      <div className="diff-head">
        <span><span className="diff-minus">−</span> {beforeLabel}</span>
        <span><span className="diff-plus">+</span> {afterLabel}</span>
        <span className="diff-count">
          <span className="diff-plus">+{added}</span> <span className="diff-minus">−{removed}</span>
        </span>
      </div>
      {added + removed === 0 && <div className="diff-same">The two versions are identical.</div>}
      <table className="diff-table">
        <tbody>
          {lines.map((l, i) => (
            <tr key={i} className={`diff-${l.kind}`}>
              <td className="diff-no">{l.oldNo ?? ""}</td>
              <td className="diff-no">{l.newNo ?? ""}</td>
              <td className="diff-sign">{l.kind === "add" ? "+" : l.kind === "del" ? "−" : " "}</td>
              <td className="diff-text">{l.text || " "}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
