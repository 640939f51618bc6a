/** Pipeline health API: live status of datasets/processes, SLAs, the overview and coverage. */
import { api } from "./client";
import { statusBatches, type HealthState, type SlaKind, type StatusMap } from "../lib/dashboardHealth";

export type SlaState = "ok" | "breached" | "unknown";

export interface Sla {
  dataset_id: string;
  kind: SlaKind;
  at: string | null;
  hours: number | null;
  state: SlaState;
  last_complete_at: string | null;
  due_at: string | null;
  breached_since: string | null;
  updated_at: string;
}

export type SlaBody = { kind: "daily_by"; at: string } | { kind: "max_age"; hours: number };

export interface Breach {
  dataset: { id: string; name: string; platform?: string | null };
  kind: SlaKind;
  due_at: string | null;
  breached_since: string | null;
  impact_count: number;
}

export interface FailedRun {
  process: { id: string; name: string; namespace?: string | null };
  run_id: string;
  failed_at: string;
  impact_count: number;
}

export interface Overview {
  breaches: Breach[];
  failed_runs: FailedRun[];
  generated_at: string;
}

export interface Coverage {
  org_id: string;
  datasets: number;
  with_lineage: number;
  with_owners: number;
  with_sla: number;
  lineage_share: number;
  owners_share: number;
  sla_share: number;
  dashboards: number;
  annotated_nodes: number;
}

export interface Run {
  run_id: string;
  state: string;
  started_at: string | null;
  ended_at: string | null;
  event_time: string | null;
}

export type { HealthState };

export const monitoringApi = {
  /** Status of many ids (batched by the API's limit); ids the reader may not see are absent. */
  status: async (ids: string[], signal?: AbortSignal): Promise<StatusMap> => {
    const batches = statusBatches(ids);
    const parts = await Promise.all(
      batches.map((batch) => api.get<StatusMap>("/api/monitoring/status", { ids: batch.join(",") }, signal)),
    );
    return Object.assign({}, ...parts) as StatusMap;
  },
  overview: (signal?: AbortSignal) => api.get<Overview>("/api/monitoring/overview", undefined, signal),
  coverage: (signal?: AbortSignal) => api.get<Coverage>("/api/monitoring/coverage", undefined, signal),
  runs: (processId: string, cursor?: string | null, signal?: AbortSignal) =>
    api.get<{ items: Run[]; next_cursor?: string | null }>(`/api/lineage/processes/${processId}/runs`, { cursor, limit: 20 }, signal),
  getSla: (datasetId: string, signal?: AbortSignal) => api.get<Sla>(`/api/datasets/${datasetId}/sla`, undefined, signal),
  putSla: (datasetId: string, body: SlaBody) => api.put<Sla>(`/api/datasets/${datasetId}/sla`, body),
  deleteSla: (datasetId: string) => api.delete(`/api/datasets/${datasetId}/sla`),
};

export const monitoringKeys = {
  all: ["monitoring"] as const,
  status: (ids: string[]) => ["monitoring", "status", [...ids].sort().join(",")] as const,
  overview: ["monitoring", "overview"] as const,
  coverage: ["monitoring", "coverage"] as const,
  sla: (datasetId: string) => ["monitoring", "sla", datasetId] as const,
};
