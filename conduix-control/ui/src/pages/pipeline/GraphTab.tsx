import { ApiError, api, pipelinePath } from "../../api";
import { DagView } from "../../components/DagView";
import { usePoll } from "../../hooks";
import type { Graph, ValidateResult } from "../../types";

/** The current version's graph; from validating its YAML when the control plane has no /graph route. */
async function loadGraph(name: string, yaml: string): Promise<Graph> {
  try {
    return await api.get<Graph>(pipelinePath(name, "graph"));
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
    const result = await api.post<ValidateResult>(pipelinePath(name, "validate"), { yaml });
    if (result.valid && result.graph) return result.graph;
    throw err;
  }
}

export function GraphTab({ name, version, yaml }: { name: string; version: number; yaml: string }) {
  const { data, error } = usePoll(() => loadGraph(name, yaml), 0, [name, version]);
  return (
    <div className="card">
      <div className="card-head">
        <h2>Graph</h2>
        <span className="muted">version {version}{data ? ` · ${data.nodes.length} components` : ""}</span>
      </div>
      {error && <div className="alert alert-error">{error}</div>}
      {data && <DagView graph={data} />}
    </div>
  );
}
