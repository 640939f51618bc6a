/** Typed calls for each API the UI uses (shapes from schema.d.ts). */
import { api, buildUrl, getWithEtag, requestWithEtag } from "./client";
import type { ColumnEdge, ColumnImpact } from "../lib/columns";
import type {
  ApiKey,
  ApiKeyCreate,
  ApiKeyCreated,
  Dataset,
  DatasetCreate,
  DatasetSort,
  DatasetUpdate,
  LoginRequest,
  LogoutResult,
  Me,
  Org,
  OrgCreate,
  OrgUpdate,
  Page,
  ConnectorDetail,
  Connector,
  DataNode,
  DatasetQuality,
  FeedMode,
  FeedPage,
  FollowState,
  Graph,
  Impact,
  LineageDirection,
  NodeCheck,
  Crawl,
  NodeConnectionTest,
  NodeCreate,
  NodeSort,
  NodeStatus,
  NodeUpdate,
  Process,
  TestResult,
  Provider,
  SearchResult,
  User,
  UserCreate,
  UserUpdate,
} from "./types";

export const authApi = {
  me: (signal?: AbortSignal) => api.get<Me>("/api/auth/me", undefined, signal),
  providers: () => api.get<Provider[]>("/api/auth/providers"),
  login: (body: LoginRequest) => api.post<unknown>("/api/auth/login", body),
  logout: () => api.post<LogoutResult>("/api/auth/logout", {}),
};

export const orgsApi = {
  list: (cursor?: string | null, limit = 50) =>
    api.get<Page<Org>>("/api/orgs", { cursor, limit }),
  create: (body: OrgCreate) => api.post<Org>("/api/orgs", body),
  update: (id: string, body: OrgUpdate) => api.patch<Org>(`/api/orgs/${id}`, body),
  remove: (id: string) => api.delete(`/api/orgs/${id}`),
};

export const usersApi = {
  list: (params: { cursor?: string | null; limit?: number; org_id?: string | null }) =>
    api.get<Page<User>>("/api/auth/users", { limit: 50, ...params }),
  create: (body: UserCreate) => api.post<User>("/api/auth/users", body),
  update: (id: string, body: UserUpdate) => api.patch<User>(`/api/auth/users/${id}`, body),
};

export const apiKeysApi = {
  list: () => api.get<ApiKey[]>("/api/auth/api-keys"),
  create: (body: ApiKeyCreate) => api.post<ApiKeyCreated>("/api/auth/api-keys", body),
  revoke: (id: string) => api.delete(`/api/auth/api-keys/${id}`),
};

export interface DatasetSearch {
  query?: string;
  platform?: string[];
  domain?: string[];
  tag?: string[];
  org?: string[];
  owner?: string[];
  visibility?: string[];
  status?: string[];
  sort?: DatasetSort;
  limit?: number;
  cursor?: string | null;
}

export const datasetsApi = {
  search: (params: DatasetSearch, signal?: AbortSignal) =>
    api.get<SearchResult>("/api/datasets", { ...params }, signal),
  get: (id: string, signal?: AbortSignal) => getWithEtag<Dataset>(`/api/datasets/${id}`, signal),
  create: (body: DatasetCreate) => api.post<Dataset>("/api/datasets", body),
  update: (id: string, body: DatasetUpdate, etag?: string | null) =>
    requestWithEtag<Dataset>(`/api/datasets/${id}`, {
      method: "PATCH",
      body,
      headers: etag ? { "If-Match": etag } : undefined,
    }),
  deprecate: (id: string, etag?: string | null) =>
    requestWithEtag<Dataset>(`/api/datasets/${id}`, {
      method: "DELETE",
      headers: etag ? { "If-Match": etag } : undefined,
    }),
};

export const followsApi = {
  /** Follow a dataset (true) or stop (false); idempotent, so a retry never undoes it. */
  set: (datasetId: string, follow: boolean) =>
    follow
      ? api.put<FollowState>(`/api/follows/${datasetId}`, undefined)
      : api.delete<FollowState>(`/api/follows/${datasetId}`),
};

export interface FeedQuery {
  mode?: FeedMode;
  type?: string[];
  dataset_id?: string | null;
  limit?: number;
  cursor?: string | null;
}

export const feedApi = {
  page: (params: FeedQuery, signal?: AbortSignal) => api.get<FeedPage>("/api/feed", { ...params }, signal),
};

export type ColumnDirection = "upstream" | "downstream" | "both";

export const lineageApi = {
  graph: (
    params: { node: string; direction?: LineageDirection; depth?: number },
    signal?: AbortSignal,
  ) => api.get<Graph>("/api/lineage/graph", { ...params }, signal),
  /** One page of the blast radius, with exact totals and counts per distance and platform. */
  impact: (
    params: { node: string; depth?: number; limit?: number; cursor?: string | null },
    signal?: AbortSignal,
  ) => api.get<Impact>("/api/lineage/impact", { ...params }, signal),
  /** Where the whole blast radius downloads as CSV (a plain link: the cookie signs it in). */
  impactExportUrl: (params: { node: string; depth?: number }) =>
    buildUrl("/api/lineage/impact/export", { ...params, format: "csv" }),
  /** Column lineage into and out of a dataset. */
  columns: (datasetId: string, direction: ColumnDirection = "both", signal?: AbortSignal) =>
    api.get<ColumnEdge[]>(`/api/lineage/assets/${encodeURIComponent(datasetId)}/columns`, { direction }, signal),
  /** Every downstream column reached from one column, hop by hop. */
  columnImpact: (params: { dataset: string; field: string; depth?: number }, signal?: AbortSignal) =>
    api.get<ColumnImpact>("/api/lineage/columns/impact", { ...params }, signal),
  /** A process with its latest runs, inputs and outputs (404 when you may not see it). */
  process: (id: string, signal?: AbortSignal) =>
    api.get<Process>(`/api/lineage/processes/${encodeURIComponent(id)}`, undefined, signal),
  /** Row counts, sizes and assertions runs reported on a dataset, newest first. */
  quality: (datasetId: string, signal?: AbortSignal) =>
    api.get<DatasetQuality>(`/api/lineage/assets/${encodeURIComponent(datasetId)}/quality`, undefined, signal),
};

export interface NodeQuery {
  type?: string | null;
  status?: NodeStatus | null;
  q?: string | null;
  sort?: NodeSort;
  limit?: number;
  cursor?: string | null;
}

export const nodesApi = {
  list: (params: NodeQuery, signal?: AbortSignal) => api.get<Page<DataNode>>("/api/nodes", { ...params }, signal),
  get: (id: string, signal?: AbortSignal) => api.get<DataNode>(`/api/nodes/${id}`, undefined, signal),
  create: (body: NodeCreate) => api.post<DataNode>("/api/nodes", body),
  update: (id: string, body: NodeUpdate) => api.patch<DataNode>(`/api/nodes/${id}`, body),
  remove: (id: string) => api.delete(`/api/nodes/${id}`),
  /** Test settings that are not saved yet. */
  testUnsaved: (body: NodeConnectionTest) => api.post<TestResult>("/api/nodes/test", body),
  /** Test a saved node (records a check and may change its status). */
  test: (id: string) => api.post<TestResult>(`/api/nodes/${id}/test`, {}),
  checks: (id: string, signal?: AbortSignal) =>
    api.get<Page<NodeCheck>>(`/api/nodes/${id}/checks`, undefined, signal),
  /** Queue a crawl (admins, stewards); one already queued or running is returned. */
  crawl: (id: string) => api.post<Crawl>(`/api/nodes/${id}/crawl`, {}),
  crawls: (id: string, limit: number, signal?: AbortSignal) =>
    api.get<Page<Crawl>>(`/api/nodes/${id}/crawls`, { limit }, signal),
};

export const connectorsApi = {
  list: (signal?: AbortSignal) => api.get<Page<Connector>>("/api/connectors", undefined, signal),
  get: (type: string, signal?: AbortSignal) =>
    api.get<ConnectorDetail>(`/api/connectors/${encodeURIComponent(type)}`, undefined, signal),
};
