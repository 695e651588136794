// Shapes of the control plane's JSON answers, generated from its OpenAPI document (/openapi.json): the
// models in conduix_control/views.py -> ui/openapi.json -> src/api-schema.ts (`npm run types`). Only names
// are given here; a test fails when either file is stale. Times are Unix seconds.

import type { components } from "./api-schema";

type Schemas = components["schemas"];

export type Me = Schemas["Me"];
export type Role = Me["role"];
export type AuthConfig = Schemas["AuthConfig"];
export type Assignment = Schemas["Assignment"];
export type PipelineSummary = Schemas["PipelineSummary"];
export type PipelineDetail = Schemas["PipelineDetail"];
export type SaveResult = Schemas["SaveResult"];
export type ConfigProblem = Schemas["ConfigProblem"];
export type GraphNode = Schemas["GraphNode"];
export type Graph = Schemas["Graph"];
export type ValidateResult = Schemas["ValidateResult"];
export type PipelineVersion = Schemas["PipelineVersion"];
export type ComponentStats = Schemas["ComponentStats"];
export type RunStats = Schemas["RunStats"];
export type Stats = Schemas["Stats"];
export type Agent = Schemas["Agent"];
export type Schedule = Schemas["Schedule"];
/** A run; from /runs/tree with the runs it started. */
export type Run = Schemas["Run"] & { children?: Run[] };
/** A token; right after it was created, with its secret. */
export type ApiToken = Schemas["ApiToken"] & Partial<Pick<Schemas["NewApiToken"], "token">>;
/** One line of the audit log (admins). */
export type AuditEvent = Schemas["AuditEvent"];
