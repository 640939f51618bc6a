/** The catalog's search state lives in the URL (shareable, back/forward work). */
import type { DatasetSearch } from "../api/endpoints";
import type { DatasetSort } from "../api/types";

export const FACET_KEYS = ["platform", "domain", "tag", "org", "visibility"] as const;
export type FacetKey = (typeof FACET_KEYS)[number];
const SORTS: DatasetSort[] = ["relevance", "updated", "name"];

export interface CatalogState {
  q: string;
  platform: string[];
  domain: string[];
  tag: string[];
  org: string[];
  visibility: string[];
  sort: DatasetSort;
  deprecated: boolean;
}

export function parseCatalogParams(params: URLSearchParams): CatalogState {
  const sort = params.get("sort") as DatasetSort | null;
  return {
    q: params.get("q") ?? "",
    platform: params.getAll("platform"),
    domain: params.getAll("domain"),
    tag: params.getAll("tag"),
    org: params.getAll("org"),
    visibility: params.getAll("visibility"),
    sort: sort && SORTS.includes(sort) ? sort : "relevance",
    deprecated: params.get("deprecated") === "1",
  };
}

export function toSearchParams(state: CatalogState): URLSearchParams {
  const out = new URLSearchParams();
  if (state.q.trim()) out.set("q", state.q);
  for (const key of FACET_KEYS) for (const v of state[key]) out.append(key, v);
  if (state.sort !== "relevance") out.set("sort", state.sort);
  if (state.deprecated) out.set("deprecated", "1");
  return out;
}

/** The API request for a state. With no text, "relevance" means newest first. */
export function toApiSearch(state: CatalogState, limit = 20): DatasetSearch {
  const text = state.q.trim();
  return {
    query: text || undefined,
    platform: state.platform,
    domain: state.domain,
    tag: state.tag,
    org: state.org,
    visibility: state.visibility,
    status: state.deprecated ? ["active", "deprecated"] : undefined,
    sort: !text && state.sort === "relevance" ? "updated" : state.sort,
    limit,
  };
}

export function toggleValue(list: string[], value: string): string[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

export function activeFilterCount(state: CatalogState): number {
  return FACET_KEYS.reduce((n, k) => n + state[k].length, 0) + (state.deprecated ? 1 : 0);
}
