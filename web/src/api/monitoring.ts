/** Pipeline health API: live status of datasets/processes, SLAs, the overview and coverage. */
import { api } from "./client";
import { statusBatches, type HealthState, type StatusMap } from "../lib/dashboardHealth";

type S = import("./schema").components["schemas"];

export type SlaState = S["Sla"]["state"];
export type Sla = S["Sla"];
export type SlaBody = { kind: "daily_by"; at: string } | { kind: "max_age"; hours: number };
export type Breach = S["Breach"];
export type FailedRun = S["FailedRun"];
export type FailedAssertions = S["FailedAssertions"];
export type Overview = S["Overview"];
export type Coverage = S["Coverage"];
export type Run = S["RunOut"];
export type RunPage = S["RunPage"];

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
    api.get<RunPage>(`/api/lineage/processes/${processId}/runs`, { cursor, limit: 20 }, signal),
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
