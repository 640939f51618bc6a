/** Dashboards API (`/api/dashboards`): saved canvases with optimistic concurrency (ETag / If-Match). */
import { api, getWithEtag, requestWithEtag, type WithEtag } from "./client";
import type { Page, Visibility } from "./types";
import type { DashboardLayout, EntityInfo } from "../lib/dashboardLayout";

export interface DashboardPerson {
  id: string;
  name: string;
}

export interface Dashboard {
  id: string;
  org_id: string;
  title: string;
  description: string;
  visibility: Visibility;
  version: number;
  layout: DashboardLayout;
  created_by: DashboardPerson | null;
  created_at: string;
  updated_at: string;
  can_edit: boolean;
  entities: Record<string, EntityInfo>;
}

export interface DashboardSummary {
  id: string;
  title: string;
  description: string;
  visibility: Visibility;
  version: number;
  node_count: number;
  created_by: DashboardPerson | null;
  updated_at: string;
}

export interface DashboardCreate {
  title: string;
  description?: string;
  visibility?: Visibility;
  layout?: DashboardLayout;
}

export type DashboardUpdate = Partial<Pick<Dashboard, "title" | "description" | "visibility" | "layout">>;

/** `"3"` from a version, as the API's ETag and If-Match carry it. */
export const etagOf = (version: number) => `"${version}"`;

export const dashboardsApi = {
  list: (params: { q?: string; cursor?: string | null; limit?: number }, signal?: AbortSignal) =>
    api.get<Page<DashboardSummary>>("/api/dashboards", { limit: 50, ...params }, signal),
  get: (id: string, signal?: AbortSignal): Promise<WithEtag<Dashboard>> => getWithEtag<Dashboard>(`/api/dashboards/${id}`, signal),
  create: (body: DashboardCreate) => requestWithEtag<Dashboard>("/api/dashboards", { method: "POST", body }),
  update: (id: string, body: DashboardUpdate, etag: string) =>
    requestWithEtag<Dashboard>(`/api/dashboards/${id}`, { method: "PATCH", body, headers: { "If-Match": etag } }),
  remove: (id: string) => api.delete(`/api/dashboards/${id}`),
  duplicate: (id: string, title?: string) =>
    requestWithEtag<Dashboard>(`/api/dashboards/${id}/duplicate`, { method: "POST", body: title ? { title } : {} }),
};

export const dashboardKeys = {
  all: ["dashboards"] as const,
  list: (q: string) => ["dashboards", "list", q] as const,
  one: (id: string) => ["dashboards", "one", id] as const,
};

type Schemas = import("./schema").components["schemas"];
export type ProcessSummary = Schemas["ProcessOut"];

export const processesApi = {
  search: (q: string, signal?: AbortSignal) =>
    api.get<Page<ProcessSummary>>("/api/lineage/processes", { q: q || undefined, limit: 20 }, signal),
};
