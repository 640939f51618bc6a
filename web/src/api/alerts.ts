/** Alert rules, their delivery log and tests (shapes from schema.d.ts). */
import { api } from "./client";
import type { components } from "./schema";

type S = components["schemas"];

export type AlertRule = S["AlertRule"];
export type AlertRuleCreate = S["AlertRuleCreate"];
export type AlertRuleUpdate = S["AlertRuleUpdate"];
export type Delivery = S["Delivery"];
export type TestResult = S["AlertTestResult"];
type RulePage = S["AlertRulePage"];
type DeliveryPage = S["DeliveryPage"];

/** Event types a rule may ask for (the server validates against the same list). */
export const ALERT_EVENTS: { type: string; label: string; main?: boolean }[] = [
  { type: "process.run_failed", label: "A run failed", main: true },
  { type: "dataset.sla_breached", label: "Freshness SLA breached", main: true },
  { type: "dataset.sla_recovered", label: "Freshness SLA recovered", main: true },
  { type: "node.status_changed", label: "A connection went up or down", main: true },
  { type: "dataset.schema_changed", label: "Schema changed", main: true },
  { type: "dataset.deprecated", label: "Dataset deprecated", main: true },
  { type: "dataset.visibility_changed", label: "Visibility changed" },
  { type: "dataset.updated", label: "Dataset updated" },
  { type: "dataset.published", label: "Dataset published" },
  { type: "dataset.refreshed", label: "Schema refreshed" },
  { type: "lineage.changed", label: "Lineage changed" },
  { type: "process.updated", label: "Process updated" },
];

export const alertsApi = {
  list: (signal?: AbortSignal) => api.get<RulePage>("/api/alerts", { limit: 200 }, signal),
  create: (body: AlertRuleCreate) => api.post<AlertRule>("/api/alerts", body),
  update: (id: string, body: AlertRuleUpdate) => api.patch<AlertRule>(`/api/alerts/${id}`, body),
  remove: (id: string) => api.delete(`/api/alerts/${id}`),
  test: (id: string) => api.post<TestResult>(`/api/alerts/${id}/test`, {}),
  deliveries: (id: string, signal?: AbortSignal) =>
    api.get<DeliveryPage>(`/api/alerts/${id}/deliveries`, { limit: 50 }, signal),
  redeliver: (id: string, deliveryId: string) =>
    api.post<Delivery>(`/api/alerts/${id}/deliveries/${deliveryId}/redeliver`, {}),
};

export const alertKeys = {
  all: ["alerts"] as const,
  list: ["alerts", "list"] as const,
  deliveries: (id: string) => ["alerts", "deliveries", id] as const,
};
