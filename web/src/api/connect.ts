/** Platform profiles and Connect (shapes from schema.d.ts). */
import { api } from "./client";
import type { components } from "./schema";
import type { Page } from "./types";

type S = components["schemas"];

export type PlatformProfile = S["PlatformProfile"];
export type PlatformProfileCreate = S["PlatformProfileCreate"];
export type PlatformProfileUpdate = S["PlatformProfileUpdate"];
export type ProfileScope = PlatformProfile["scope"];
export type ConnectRequest = S["ConnectRequest"];
export type ConnectResult = S["ConnectResult"];
export type ConnectArtifact = S["Artifact"];
export type ConnectionTestResult = S["ConnectionTest-Output"];

/** Platforms Connect writes code for (and so a profile can be for), in the server's order. */
export const CONNECT_PLATFORMS = ["snowflake", "databricks", "bigquery", "redshift", "postgresql"] as const;

/** A catalog platform name as Connect knows it (`postgres` is `postgresql`), or null. */
export function connectPlatform(name: string | null | undefined): string | null {
  const key = (name ?? "").trim().toLowerCase();
  const alias: Record<string, string> = { postgres: "postgresql", pg: "postgresql", "gcp-bigquery": "bigquery" };
  const canonical = alias[key] ?? key;
  return (CONNECT_PLATFORMS as readonly string[]).includes(canonical) ? canonical : null;
}

export interface ProfileQuery {
  platform?: string | null;
  scope?: ProfileScope | null;
  limit?: number;
  cursor?: string | null;
}

export const profilesApi = {
  list: (params: ProfileQuery = {}, signal?: AbortSignal) =>
    api.get<Page<PlatformProfile>>("/api/platform-profiles", { limit: 100, ...params }, signal),
  create: (body: PlatformProfileCreate) => api.post<PlatformProfile>("/api/platform-profiles", body),
  update: (id: string, body: PlatformProfileUpdate) => api.patch<PlatformProfile>(`/api/platform-profiles/${id}`, body),
  makeDefault: (id: string) => api.post<PlatformProfile>(`/api/platform-profiles/${id}/default`, {}),
  remove: (id: string) => api.delete(`/api/platform-profiles/${id}`),
};

export const connectApi = {
  connect: (datasetId: string, body: ConnectRequest) =>
    api.post<ConnectResult>(`/api/datasets/${datasetId}/connect`, body),
};

export const profileKeys = {
  all: ["platform-profiles"] as const,
  list: (platform?: string | null) => ["platform-profiles", platform ?? "all"] as const,
};

