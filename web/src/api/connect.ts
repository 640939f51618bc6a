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

/** What the person did with the code: each is a connect (audited; in the feed once an hour). */
export type ConnectAction = "copy" | "download" | "test";

/** The body of the connect a person's action on one artifact (or a test) records. */
export function connectBody(action: ConnectAction, profileId: string | null, kind?: string): ConnectRequest {
  if (action === "test") return { profile_id: profileId, test: true };
  return { profile_id: profileId, action, kinds: kind ? [kind] : null };
}

export const connectApi = {
  /** The code to show: rendering it is not a connect, so nothing is recorded. */
  preview: (datasetId: string, profileId: string | null, signal?: AbortSignal) =>
    api.get<ConnectResult>(`/api/datasets/${datasetId}/connect`, { profile_id: profileId }, signal),
  /** A connect: the person copied or downloaded an artifact, or asked for a test. */
  connect: (datasetId: string, body: ConnectRequest) =>
    api.post<ConnectResult>(`/api/datasets/${datasetId}/connect`, body),
};

export const profileKeys = {
  all: ["platform-profiles"] as const,
  list: (platform?: string | null) => ["platform-profiles", platform ?? "all"] as const,
};

