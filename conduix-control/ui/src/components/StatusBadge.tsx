// A coloured pill for a status word (running, failed, online, ...).

const TONE: Record<string, string> = {
  running: "green", online: "green", succeeded: "green", completed: "green", active: "green", acked: "green",
  enabled: "green", live: "green",
  paused: "amber", pending: "amber", starting: "amber", degraded: "amber", sent: "amber", reconnecting: "amber",
  failed: "red", lost: "red", offline: "red", fenced: "red", lease_expired: "red", error: "red",
  stopped: "grey", released: "grey", cancelled: "grey", disabled: "grey", idle: "grey",
};

export function StatusBadge({ status, testId }: { status: string | null | undefined; testId?: string }) {
  const word = status || "unknown";
  return (
    <span className={`badge badge-${TONE[word] ?? "blue"}`} data-testid={testId}>
      <span className="badge-dot" />
      {word.replace(/_/g, " ")}
    </span>
  );
}
