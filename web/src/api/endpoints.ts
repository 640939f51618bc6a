/** Typed calls for each API the UI uses (shapes from schema.d.ts). */
import { api, getWithEtag, requestWithEtag } from "./client";
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
  FollowState,
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
  /** Follow a dataset, or stop following it. */
  toggle: (datasetId: string) => api.post<FollowState>("/api/follows", { dataset_id: datasetId }),
};
