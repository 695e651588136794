import { useMemo } from "react";
import { graphlib, layout } from "@dagrejs/dagre";
import type { Graph, GraphNode } from "../types";

const NODE_W = 176;
const NODE_H = 54;
const PAD = 24;

interface Placed {
  node: GraphNode;
  x: number;
  y: number;
}

interface Laid {
  nodes: Placed[];
  edges: { key: string; label: string | null; points: { x: number; y: number }[] }[];
  width: number;
  height: number;
}

/** An edge may name a component's output ("split.audit"): it starts at the component. */
function resolve(ids: Set<string>, ref: string): string | null {
  if (ids.has(ref)) return ref;
  const dot = ref.lastIndexOf(".");
  return dot > 0 && ids.has(ref.slice(0, dot)) ? ref.slice(0, dot) : null;
}

function place(graph: Graph): Laid {
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 72, marginx: PAD, marginy: PAD });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(graph.nodes.map((n) => n.id));
  for (const n of graph.nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  const labels = new Map<string, string>();
  for (const e of graph.edges) {
    const from = resolve(ids, e.from);
    const to = resolve(ids, e.to);
    if (!from || !to) continue;
    g.setEdge(from, to);
    const output = e.output ?? (from !== e.from ? e.from.slice(from.length + 1) : null);
    if (output) labels.set(`${from}->${to}`, output);
  }
  layout(g);
  const label = g.graph() as { width?: number; height?: number };
  return {
    nodes: graph.nodes.map((node) => {
      const n = g.node(node.id) as { x: number; y: number };
      return { node, x: n.x, y: n.y };
    }),
    edges: g.edges().map((e) => ({
      key: `${e.v}->${e.w}`,
      label: labels.get(`${e.v}->${e.w}`) ?? null,
      points: ((g.edge(e) as { points?: { x: number; y: number }[] }).points ?? []),
    })),
    width: Math.max(label.width ?? 0, NODE_W + 2 * PAD),
    height: Math.max(label.height ?? 0, NODE_H + 2 * PAD),
  };
}

/** A smooth path through dagre's edge points. */
function edgePath(points: { x: number; y: number }[]): string {
  if (points.length === 0) return "";
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${mid.x},${mid.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The pipeline's components laid out left to right, coloured by kind, with arrows along the data flow. */
export function DagView({ graph }: { graph: Graph }) {
  const laid = useMemo(() => place(graph), [graph]);
  return (
    <div className="dag-wrap">
      <svg data-testid="dag" className="dag" width={laid.width} height={laid.height}
        viewBox={`0 0 ${laid.width} ${laid.height}`} role="img" aria-label="Pipeline graph">
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
            orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#94a3b8" />
          </marker>
        </defs>
        {laid.edges.map((e) => (
          <path key={e.key} className="dag-edge" d={edgePath(e.points)} markerEnd="url(#dag-arrow)" />
        ))}
        {laid.edges.filter((e) => e.label && e.points.length > 1).map((e) => {
          // near the start of the edge, where it leaves the component's named output
          const [a, b] = [e.points[0], e.points[1]];
          return (
            <text key={`${e.key}-label`} className="dag-edge-label" x={(a.x + b.x) / 2} y={(a.y + b.y) / 2 - 6}
              textAnchor="middle">{e.label}</text>
          );
        })}
        {laid.nodes.map(({ node, x, y }) => (
          <g key={node.id} data-testid={`dag-node-${node.id}`} className={`dag-node dag-${node.kind}`}
            transform={`translate(${x - NODE_W / 2},${y - NODE_H / 2})`}>
            <title>{`${node.id} (${node.kind}: ${node.type})`}</title>
            <rect width={NODE_W} height={NODE_H} rx={9} />
            <rect className="dag-stripe" width={5} height={NODE_H} rx={2} />
            <text className="dag-id" x={16} y={22}>{truncate(node.id, 20)}</text>
            <text className="dag-type" x={16} y={40}>{truncate(`${node.kind} · ${node.type}`, 24)}</text>
          </g>
        ))}
      </svg>
      <div className="dag-legend">
        <span><i className="legend-dot dag-source-dot" />source</span>
        <span><i className="legend-dot dag-transform-dot" />transform</span>
        <span><i className="legend-dot dag-sink-dot" />sink</span>
      </div>
    </div>
  );
}
