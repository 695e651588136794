import { useEffect, useState } from "react";
import { api, pipelinePath } from "../../api";
import { StatusBadge } from "../../components/StatusBadge";
import { fmtInt, fmtRate, fmtTime } from "../../format";
import type { ComponentStats, Stats } from "../../types";

type Connection = "connecting" | "live" | "reconnecting" | "closed";
const ORDER: Record<string, number> = { source: 0, transform: 1, sink: 2 };
const HISTORY = 90;

/** Records/s leaving the pipeline: what its sinks take in. */
function throughput(components: [string, ComponentStats][]): number {
  const sinks = components.filter(([, c]) => c.kind === "sink");
  if (sinks.length) return sinks.reduce((sum, [, c]) => sum + Math.max(c.rate_in ?? 0, c.rate_out ?? 0), 0);
  return components.reduce((sum, [, c]) => sum + (c.rate_out ?? 0), 0);
}

function Sparkline({ values }: { values: number[] }) {
  const w = 240;
  const h = 44;
  const max = Math.max(1, ...values);
  // fills from the left for the first 30 samples, then scrolls
  const step = w / (Math.max(values.length, 30) - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 3 - (v / max) * (h - 8)).toFixed(1)}`);
  const lastX = ((values.length - 1) * step).toFixed(1);
  return (
    <svg className="sparkline" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" aria-hidden="true">
      {pts.length > 1 && (
        <>
          <polygon points={`0,${h} ${pts.join(" ")} ${lastX},${h}`} className="spark-fill" />
          <polyline points={pts.join(" ")} className="spark-line" vectorEffect="non-scaling-stroke" />
        </>
      )}
    </svg>
  );
}

function Metric({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div className="metric">
      <span className="metric-label">{label}</span>
      <span className="metric-value">{value}</span>
      {sub && <span className="metric-sub">{sub}</span>}
    </div>
  );
}

/** Per-component counters and rates, pushed by the control plane every second over server-sent events. */
export function LiveTab({ name }: { name: string }) {
  const [stats, setStats] = useState<Stats | null>(null);
  const [connection, setConnection] = useState<Connection>("connecting");
  const [history, setHistory] = useState<number[]>([]);

  useEffect(() => {
    let closed = false;
    const accept = (s: Stats) => {
      if (closed) return;
      setStats(s);
      setHistory((h) => [...h, throughput(Object.entries(s.components ?? {}))].slice(-HISTORY));
    };
    api.get<Stats>(pipelinePath(name, "stats")).then(accept).catch(() => undefined);
    const source = new EventSource(pipelinePath(name, "live"));
    source.onopen = () => setConnection("live");
    source.onerror = () => setConnection(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    source.addEventListener("stats", (event) => {
      setConnection("live");
      try {
        accept(JSON.parse((event as MessageEvent<string>).data) as Stats);
      } catch {
        // a malformed event: wait for the next one
      }
    });
    return () => {
      closed = true;
      source.close();
    };
  }, [name]);

  const components = Object.entries(stats?.components ?? {}).sort(
    ([a, x], [b, y]) => (ORDER[x.kind ?? ""] ?? 9) - (ORDER[y.kind ?? ""] ?? 9) || a.localeCompare(b));
  const sum = (f: (c: ComponentStats) => number | null | undefined) =>
    components.reduce((total, [, c]) => total + (f(c) ?? 0), 0);
  const runs = stats?.runs ?? [];
  const recordsIn = runs.length ? runs.reduce((t, r) => t + r.records_in, 0) : sum((c) => c.kind === "source" ? c.records_out : 0);
  const recordsOut = runs.length ? runs.reduce((t, r) => t + r.records_out, 0) : sum((c) => c.kind === "sink" ? c.records_in : 0);
  const lags = components.map(([, c]) => c.lag).filter((l): l is number => l !== null && l !== undefined);
  const rate = history.length ? history[history.length - 1] : 0;

  return (
    <div className="live">
      <div className="live-bar">
        <StatusBadge status={connection} testId="live-connection" />
        <span className="muted">
          {stats ? `desired ${stats.desired} · ${runs.length} run${runs.length === 1 ? "" : "s"} · updated ${fmtTime(stats.time)}`
            : "Waiting for the first report…"}
        </span>
      </div>
      <div className="metrics">
        <div className="metric metric-wide">
          <div>
            <span className="metric-label">Throughput</span>
            <span className="metric-value">{fmtRate(rate)}</span>
            <span className="metric-sub">records/s out</span>
          </div>
          <Sparkline values={history} />
        </div>
        <Metric label="Records in" value={fmtInt(recordsIn)} />
        <Metric label="Records out" value={fmtInt(recordsOut)} />
        <Metric label="Errors" value={fmtInt(sum((c) => c.errors))} />
        <Metric label="Dead letters" value={fmtInt(sum((c) => c.dead_letters))} />
        <Metric label="Restarts" value={fmtInt(sum((c) => c.restarts))} />
        <Metric label="Lag" value={lags.length ? fmtInt(lags.reduce((a, b) => a + b, 0)) : "—"} />
      </div>
      <div className="card">
        <div className="card-head"><h2>Components</h2></div>
        <table className="table">
          <thead>
            <tr>
              <th>Component</th><th>Kind</th><th className="num">In</th><th className="num">Out</th>
              <th className="num">Rate in</th><th className="num">Rate out</th><th className="num">Errors</th>
              <th className="num">Dead letters</th><th className="num">Restarts</th><th className="num">Lag</th>
            </tr>
          </thead>
          <tbody>
            {components.map(([id, c]) => (
              <tr key={id} data-testid={`live-component-${id}`}>
                <td><strong>{id}</strong> <span className="muted">{c.type}</span></td>
                <td><span className={`kind kind-${c.kind}`}>{c.kind}</span></td>
                <td className="num" data-testid={`live-in-${id}`}>{fmtInt(c.records_in)}</td>
                <td className="num" data-testid={`live-out-${id}`}>{fmtInt(c.records_out)}</td>
                <td className="num">{fmtRate(c.rate_in)}</td>
                <td className="num" data-testid={`live-rate-${id}`}>{fmtRate(c.rate_out)}</td>
                <td className={`num${c.errors ? " text-red" : ""}`} data-testid={`live-errors-${id}`}>{fmtInt(c.errors)}</td>
                <td className={`num${c.dead_letters ? " text-amber" : ""}`} data-testid={`live-dead-${id}`}>{fmtInt(c.dead_letters)}</td>
                <td className="num" data-testid={`live-restarts-${id}`}>{fmtInt(c.restarts)}</td>
                <td className="num" data-testid={`live-lag-${id}`}>{c.lag === null || c.lag === undefined ? "—" : fmtInt(c.lag)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {stats && components.length === 0 && (
          <div className="empty"><p className="muted">No component numbers yet: they arrive with the agents' reports
            once the pipeline runs.</p></div>
        )}
      </div>
      {runs.length > 0 && (
        <div className="card">
          <div className="card-head"><h2>Runs</h2></div>
          <table className="table">
            <thead><tr><th>Run</th><th>Replica</th><th>Agent</th><th>Status</th><th className="num">In</th>
              <th className="num">Out</th><th className="num">Errors</th></tr></thead>
            <tbody>
              {runs.map((r) => (
                <tr key={r.id}>
                  <td>#{r.id}</td><td>{r.replica}</td><td>{r.agent_id ?? "—"}</td>
                  <td><StatusBadge status={r.status} /></td>
                  <td className="num">{fmtInt(r.records_in)}</td><td className="num">{fmtInt(r.records_out)}</td>
                  <td className="num">{fmtInt(r.errors)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
