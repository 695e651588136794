// Shapes of the control plane's JSON answers (see the REST API's OpenAPI document at /docs).
// Times are Unix seconds.

export type Role = "viewer" | "editor" | "admin" | "agent";

export interface Me {
  user: string;
  role: Role;
  via: "session" | "token" | "none";
}

export interface AuthConfig {
  mode: "local" | "oidc";
  provider: string | null;
}

export interface Assignment {
  id: number;
  pipeline: string;
  replica: number;
  agent_id?: string;
  run_id: number | null;
  status: string;
}

export interface PipelineSummary {
  name: string;
  current_version: number;
  replicas: number;
  labels: Record<string, string>;
  desired: string;
  status?: string;
  throughput?: number;
  records_in?: number;
  records_out?: number;
  created_at: number;
  updated_at: number;
  assignments?: Assignment[];
}

export interface PipelineDetail extends PipelineSummary {
  yaml: string;
}

export interface SaveResult extends PipelineSummary {
  changed: boolean;
}

export interface ConfigProblem {
  message: string;
  line: number | null;
  column: number | null;
  path: string | null;
  hint: string | null;
}

export interface GraphNode {
  id: string;
  kind: "source" | "transform" | "sink";
  type: string;
}

export interface Graph {
  nodes: GraphNode[];
  /** `output`: the named output of a router-like component the edge leaves from (null: its only output). */
  edges: { from: string; to: string; output?: string | null }[];
}

export type ValidateResult = { valid: true; graph?: Graph } | { valid: false; errors: ConfigProblem[] };

export interface PipelineVersion {
  version: number;
  yaml: string;
  comment: string | null;
  created_at: number;
}

export interface ComponentStats {
  kind: string;
  type: string;
  records_in: number;
  records_out: number;
  errors: number;
  dead_letters: number;
  dropped: number;
  retries: number;
  restarts: number;
  lag: number | null;
  rate_in: number;
  rate_out: number;
}

export interface RunStats {
  id: number;
  replica: number;
  agent_id: string | null;
  status: string;
  records_in: number;
  records_out: number;
  errors: number;
}

export interface Stats {
  pipeline: string;
  desired: string;
  time: number;
  runs: RunStats[];
  components: Record<string, ComponentStats>;
}

export interface Agent {
  id: string;
  host: string;
  labels: Record<string, string>;
  capacity: number;
  mode: string;
  status: string;
  last_heartbeat: number;
  registered_at: number;
  heartbeat_age?: number;
  assignments?: Assignment[];
}

export interface Schedule {
  id: number;
  pipeline: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  last_fire: number | null;
  created_at: number;
  next_runs: string[];
}

export interface Run {
  id: number;
  pipeline: string;
  replica: number;
  agent_id: string | null;
  version: number;
  status: string;
  records_in: number;
  records_out: number;
  errors: number;
  error: string | null;
  parent_run_id: number | null;
  parameters?: Record<string, unknown> | null;
  started_at: number;
  ended_at: number | null;
  updated_at: number;
  children?: Run[];
}

export interface ApiToken {
  id: number | string;
  name: string;
  role: Role;
  prefix: string;
  created_by: string | null;
  created_at: number;
  last_used_at: number | null;
  token?: string;
}
