/** Names for the API's schemas, generated from the backend's OpenAPI (`npm run gen:api`). */
import type { components } from "./schema";

type S = components["schemas"];

export type Me = S["Me"];
export type Role = S["Me"]["role"];
export type Provider = S["Provider"];
export type LogoutResult = S["LogoutResult"];
export type LoginRequest = S["LoginRequest"];
export type Org = S["Org"];
export type OrgCreate = S["OrgCreate"];
export type OrgUpdate = S["OrgUpdate"];
export type OrgSettings = S["OrgSettings"];
export type Visibility = NonNullable<S["OrgSettings"]["default_visibility"]>;
export type User = S["User"];
export type UserCreate = S["UserCreate"];
export type UserUpdate = S["UserUpdate"];
export type ApiKey = S["ApiKey"];
export type ApiKeyCreate = S["ApiKeyCreate"];
export type ApiKeyCreated = S["ApiKeyCreated"];

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export const ROLES: readonly Role[] = ["admin", "steward", "producer", "viewer"] as const;
export const VISIBILITIES: readonly Visibility[] = ["public", "internal", "private"] as const;

export type Dataset = S["Dataset"];
export type DatasetSummary = S["DatasetSummary"];
export type DatasetCreate = S["DatasetCreate"];
export type DatasetUpdate = S["DatasetUpdate"];
export type DatasetField = S["FieldOut"];
export type SearchResult = S["SearchResult"];
export type Facets = S["Facets"];
export type FacetCount = S["FacetCount"];
export type Person = Dataset["owners"][number];
export type DatasetStatus = Dataset["status"];
export type DatasetSort = "relevance" | "updated" | "name";

export const PLATFORMS = ["snowflake", "databricks", "bigquery", "redshift", "postgresql", "s3", "kafka"] as const;
export type FollowState = S["FollowState"];

/* Feed */
export type FeedItem = S["FeedItem"];
export type FeedPage = S["FeedPage"];
export type FeedMode = "recent" | "for_you";
export type Followed = S["Followed"];

/* Lineage */
export type Graph = S["Graph"];
export type GraphNode = S["GraphNode"];
export type GraphEdge = S["GraphEdge"];
export type Impact = S["Impact"];
export type ImpactItem = S["ImpactItem"];
export type NotifyPerson = S["NotifyPerson"];
export type ColumnEdge = S["ColumnEdgeOut"];
export type ColumnImpact = S["ColumnImpact"];
export type ColumnImpactItem = S["ColumnImpactItem"];
export type ColumnImpactEdge = S["ColumnImpactEdge"];
export type LineageDirection = "upstream" | "downstream" | "both";
export type Health = "ok" | "error" | "unknown";

/* Nodes and connectors */
export type DataNode = S["Node"];
export type NodeCreate = S["NodeCreate"];
export type NodeUpdate = S["NodeUpdate"];
export type NodeConnectionTest = S["NodeConnectionTest"];
export type NodeCheck = S["NodeCheck"];
export type Crawl = S["Crawl"];
export type TestResult = S["TestResult"];
export type NodeStatus = DataNode["status"];
export type NodeSort = "name" | "updated" | "status";
export type Connector = S["Connector"];
export type ConnectorDetail = S["ConnectorDetail"];
export type SecretFieldInfo = S["SecretFieldInfo"];

/* Processes and data quality */
export type Process = S["ProcessOut"];
export type Run = S["RunOut"];
export type DatasetQuality = S["DatasetQualityOut"];
export type QualityRecord = S["QualityRecord"];
export type QualityAssertion = S["QualityAssertionOut"];
