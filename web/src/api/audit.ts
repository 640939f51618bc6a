/** The audit log (governance): search, export, chain verification (shapes from schema.d.ts). */
import { api, buildUrl } from "./client";
import type { components } from "./schema";

type S = components["schemas"];

export type AuditItem = S["AuditItem"];
export type AuditPage = S["AuditPage"];
export type AuditVerify = S["VerifyOut"];

export interface AuditFilters {
  actor?: string;
  action?: string;
  target?: string;
  /** ISO 8601 with offset. */
  since?: string;
  until?: string;
  query?: string;
  /** Platform admins: one organization's entries. */
  org_id?: string;
}

export const auditApi = {
  search: (filters: AuditFilters, cursor: string | null, limit = 50, signal?: AbortSignal) =>
    api.get<AuditPage>("/api/audit", { ...filters, cursor, limit }, signal),
  /** The export streams from the server; the browser downloads it through a plain link. */
  exportUrl: (filters: AuditFilters, format: "csv" | "jsonl") =>
    buildUrl("/api/audit/export", { ...filters, format }),
  verify: (signal?: AbortSignal) => api.get<AuditVerify>("/api/audit/verify", undefined, signal),
};
