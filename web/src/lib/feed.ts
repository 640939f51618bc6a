/** Feed events as human sentences, and the list logic of a live feed (dedupe, order, days). */
import type { FeedItem } from "../api/types";
import { platformLabel } from "./platforms";

/** Every event type the live stream names (EventSource only delivers the types it listens to). */
export const KNOWN_EVENT_TYPES = [
  "dataset.published",
  "dataset.updated",
  "dataset.visibility_changed",
  "dataset.deprecated",
  "dataset.followed",
  "dataset.unfollowed",
  "dataset.connected",
  "lineage.changed",
  "process.created",
  "process.updated",
  "process.deleted",
  "process.run_failed",
  "run.failed",
  "dataset.sla_breached",
  "dataset.sla_recovered",
  "dataset.assertion_failed",
  "dataset.sla_set",
  "dataset.sla_deleted",
  "dashboard.created",
  "dashboard.updated",
  "dashboard.deleted",
  "node.created",
  "node.updated",
  "node.deleted",
  "node.status_changed",
  "node.crawled",
  "dataset.schema_changed",
  "dataset.removed",
  "dataset.restored",
] as const;

/** Filters offered on the feed page (value: comma-separated event types). */
export const EVENT_FILTERS: { value: string; label: string }[] = [
  { value: "", label: "All activity" },
  { value: "dataset.published", label: "New datasets" },
  {
    value: "dataset.updated,dataset.visibility_changed,dataset.deprecated,dataset.schema_changed,dataset.removed,dataset.restored",
    label: "Dataset changes",
  },
  { value: "lineage.changed", label: "Lineage" },
  {
    value: "node.status_changed,process.run_failed,dataset.sla_breached,dataset.sla_recovered,dataset.assertion_failed",
    label: "Health and failures",
  },
  { value: "dataset.followed,dataset.connected", label: "Follows and connections" },
  { value: "dashboard.created,dashboard.updated,dashboard.deleted", label: "Dashboards" },
];

export type EventIcon = "publish" | "edit" | "visibility" | "deprecate" | "follow" | "connect" | "lineage" | "node" | "failure" | "other";
export type EventTone = "primary" | "success" | "warning" | "danger" | "info" | "neutral";

/** A piece of a sentence: plain text, the actor, or the subject (rendered as a link). */
export type Part = string | { actor: true } | { subject: true; label?: string };

export interface EventDescription {
  parts: Part[];
  /** The subject's display name. */
  subject: string;
  /** Where the subject opens, if it has a page. */
  href: string | null;
  actor: string;
  /** A short label for the kind of event ("Published"). */
  label: string;
  icon: EventIcon;
  tone: EventTone;
  /** A second line (a message, what changed). */
  detail?: string;
  /** The sentence as plain text (for screen-reader announcements and tests). */
  text: string;
}

const FIELD_LABELS: Record<string, string> = {
  display_name: "display name",
  description: "description",
  domain: "domain",
  tags: "tags",
  visibility: "visibility",
  owners: "owners",
  fields: "fields",
  source: "location",
  status: "status",
  platform: "platform",
  config: "settings",
  secrets: "secret references",
  name: "name",
  check_interval_seconds: "check interval",
  sql: "SQL",
  source_code: "source code",
  type: "type",
};

const HEALTH_LABELS: Record<string, string> = { ok: "OK", error: "Error", unknown: "Unknown" };

export function healthLabel(status: string | null | undefined): string {
  if (!status) return "Unknown";
  return HEALTH_LABELS[status] ?? status.charAt(0).toUpperCase() + status.slice(1);
}

/** "a", "a and b", "a, b and c". */
export function listing(words: string[]): string {
  if (words.length <= 1) return words[0] ?? "";
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function actorName(item: Pick<FeedItem, "actor">): string {
  const { name, kind } = item.actor;
  if (kind === "api_key" || name.startsWith("api-key:")) return `API key “${name.replace(/^api-key:/, "")}”`;
  if (kind === "system" || !name) return "DataMesh";
  return name;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function subjectHref(subject: FeedItem["subject"]): string | null {
  if (!subject.id) return null;
  if (subject.kind === "dataset") return `/datasets/${subject.id}`;
  if (subject.kind === "process") return `/processes/${encodeURIComponent(subject.id)}`;
  if (subject.kind === "node") return `/nodes?node=${encodeURIComponent(subject.id)}`;
  if (subject.kind === "dashboard") return `/dashboards/${subject.id}`;
  return null;
}

function subjectName(item: FeedItem): string {
  const p = item.payload;
  const name = item.subject.name ?? str(p.display_name) ?? str(p.name);
  if (name) return name;
  if (item.subject.kind === "process") return "a process";
  if (item.subject.kind === "node") return "a node";
  if (item.subject.kind === "dashboard") return "a dashboard";
  return `a ${item.subject.kind}`;
}

const A: Part = { actor: true };
const S: Part = { subject: true };

/** What an event type says: its sentence, badge and second line. */
type Telling = Pick<EventDescription, "parts" | "label" | "icon" | "tone" | "detail">;

/** Events told in a fixed sentence (no payload needed). */
const FIXED = new Map<string, Telling>([
  [
    "dataset.deprecated",
    { parts: [A, " deprecated ", S], label: "Deprecated", icon: "deprecate", tone: "danger", detail: "It no longer appears in default search." },
  ],
  ["dataset.followed", { parts: [A, " started following ", S], label: "Followed", icon: "follow", tone: "primary" }],
  ["dataset.unfollowed", { parts: [A, " stopped following ", S], label: "Unfollowed", icon: "follow", tone: "neutral" }],
  ["node.updated", { parts: [A, " changed the settings of ", S], label: "Node", icon: "node", tone: "info" }],
  ["node.deleted", { parts: [A, " removed the connection ", S], label: "Node removed", icon: "node", tone: "neutral" }],
  ["dataset.sla_recovered", { parts: [S, " is fresh again: its SLA is met"], label: "SLA met", icon: "other", tone: "success" }],
  ["dataset.sla_deleted", { parts: [A, " removed the freshness SLA of ", S], label: "SLA", icon: "edit", tone: "neutral" }],
  ["dashboard.updated", { parts: [A, " updated the dashboard ", S], label: "Dashboard", icon: "edit", tone: "info" }],
  ["dashboard.deleted", { parts: [A, " deleted the dashboard ", S], label: "Dashboard", icon: "lineage", tone: "neutral" }],
  ["process.updated", { parts: [A, " updated the process ", S], label: "Process", icon: "lineage", tone: "info" }],
]);

/** Events whose sentence or second line depends on the payload (and unknown ones). */
function tell(item: FeedItem): Telling {
  const p = item.payload ?? {};
  switch (item.type) {
    case "dataset.published": {
      const bits = [str(p.namespace) && str(p.name) ? `${p.namespace}/${p.name}` : undefined];
      return {
        parts: [A, " published ", S],
        label: "Published",
        icon: "publish",
        tone: "success",
        detail: bits.filter(Boolean).join(" · ") || undefined,
      };
    }
    case "dataset.updated": {
      const fields = arr(p.fields).filter((f): f is string => typeof f === "string");
      const words = Array.from(new Set(fields.map((f) => FIELD_LABELS[f] ?? f.replace(/_/g, " "))));
      return {
        parts: words.length ? [A, ` changed the ${listing(words)} of `, S] : [A, " updated ", S],
        label: "Updated",
        icon: "edit",
        tone: "info",
      };
    }
    case "dataset.visibility_changed": {
      const after = str(p.after);
      const before = str(p.before);
      const detail = [before ? `It was ${before}.` : "", alsoChanged(p.fields, "visibility")].filter(Boolean).join(" ");
      return {
        parts: after ? [A, " made ", S, ` ${after}`] : [A, " changed the visibility of ", S],
        label: "Visibility",
        icon: "visibility",
        tone: after === "private" ? "warning" : "info",
        detail: detail || undefined,
      };
    }
    case "dataset.connected": {
      const platform = str(p.platform);
      const kinds = arr(p.kinds).filter((k): k is string => typeof k === "string");
      const words = kinds.map((k) => k.replace(/_/g, " "));
      const verb = p.action === "copy" ? "Copied" : p.action === "download" ? "Downloaded" : "Used";
      const used =
        words.length && p.action !== "test" ? `${verb} the ${listing(words)} ${words.length === 1 ? "snippet" : "snippets"}` : "";
      const tested = p.tested ? "tested the connection" : "";
      const text = [used, tested].filter(Boolean).join(" and ");
      return {
        parts: platform ? [A, " connected to ", S, ` from ${platformLabel(platform)}`] : [A, " connected to ", S],
        label: "Connected",
        icon: "connect",
        tone: "primary",
        detail: text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}.` : undefined,
      };
    }
    case "lineage.changed": {
      const added = arr(p.edges_added).length;
      const removed = arr(p.edges_removed).length;
      const created = typeof p.datasets_created === "number" ? p.datasets_created : 0;
      const nodesRemoved = arr(p.nodes_removed).length;
      const named = !!item.subject.name;
      const bits = [
        added ? `${plural(added, "new link")}` : "",
        removed ? `${plural(removed, "link")} removed` : "",
        created ? `${plural(created, "new dataset")}` : "",
      ].filter(Boolean);
      return {
        parts: nodesRemoved
          ? [A, " removed ", S, " from the lineage"]
          : named
            ? [A, " updated the lineage of ", S]
            : [A, " recorded new ", { subject: true, label: "lineage" }],
        label: "Lineage",
        icon: "lineage",
        tone: "primary",
        detail: bits.length ? `${bits.join(", ")}.` : undefined,
      };
    }
    case "node.status_changed": {
      const from = str(p.from);
      const to = str(p.to);
      return {
        parts: ["The connection ", S, ` is now ${healthLabel(to)}`, from ? ` (was ${healthLabel(from)})` : ""],
        label: "Health",
        icon: to === "error" ? "failure" : "node",
        tone: to === "error" ? "danger" : to === "ok" ? "success" : "neutral",
        detail: str(p.message),
      };
    }
    case "node.created":
      return {
        parts: [A, " added the connection ", S],
        label: "New node",
        icon: "node",
        tone: "success",
        detail: str(p.type) ? platformLabel(String(p.type)) : undefined,
      };
    case "process.run_failed":
    case "run.failed": {
      const state = str(p.state) ?? str(p.run_state);
      const impact = typeof p.impact_count === "number" ? p.impact_count : undefined;
      const affected = impact ? `${plural(impact, "downstream dataset")} affected.` : undefined;
      return {
        parts: [S, " failed", state && state !== "FAIL" ? ` (${state.toLowerCase()})` : ""],
        label: "Run failed",
        icon: "failure",
        tone: "danger",
        detail: [str(p.message) ?? str(p.error) ?? str(p.error_message), affected].filter(Boolean).join(" ") || undefined,
      };
    }
    case "dataset.assertion_failed": {
      const failed = arr(p.failed)
        .map((a) => {
          const o = (a ?? {}) as Record<string, unknown>;
          const what = str(o.assertion);
          if (!what) return undefined;
          return str(o.column) ? `${what} on ${String(o.column)}` : what;
        })
        .filter(Boolean);
      const count = typeof p.failed_count === "number" ? p.failed_count : failed.length;
      const impact = typeof p.impact_count === "number" ? p.impact_count : undefined;
      return {
        parts: [S, count > 1 ? ` failed ${count} data quality checks` : " failed a data quality check"],
        label: "Check failed",
        icon: "failure",
        tone: "danger",
        detail:
          [failed.length ? `${failed.join(", ")}.` : undefined, impact ? `${plural(impact, "downstream dataset")} affected.` : undefined]
            .filter(Boolean)
            .join(" ") || undefined,
      };
    }
    case "dataset.sla_breached":
      return {
        parts: [S, " is late: its freshness SLA is breached"],
        label: "SLA breached",
        icon: "failure",
        tone: "warning",
        detail: str(p.due_at) ? `It was due by ${new Date(String(p.due_at)).toUTCString()}.` : undefined,
      };
    case "dataset.sla_set": {
      const kind = str(p.kind);
      const hours = typeof p.hours === "number" ? p.hours : undefined;
      return {
        parts: [A, " set a freshness SLA on ", S],
        label: "SLA",
        icon: "edit",
        tone: "info",
        detail:
          kind === "daily_by" && str(p.at)
            ? `Updated daily by ${String(p.at)} UTC.`
            : kind === "max_age" && hours
              ? `At most ${plural(hours, "hour")} old.`
              : undefined,
      };
    }
    case "dataset.schema_changed": {
      const dropped = arr(p.dropped).length;
      const added = arr(p.added).length;
      const changed = arr(p.type_changed).length;
      const downstream = typeof p.downstream_count === "number" ? p.downstream_count : 0;
      const bits = [
        added ? `${plural(added, "column")} added` : "",
        dropped ? `${plural(dropped, "column")} dropped` : "",
        changed ? `${plural(changed, "type")} changed` : "",
      ].filter(Boolean);
      return {
        parts: ["The schema of ", S, p.breaking ? " changed in a breaking way" : " changed"],
        label: "Schema",
        icon: p.breaking ? "failure" : "edit",
        tone: p.breaking ? "warning" : "info",
        detail:
          [bits.length ? `${bits.join(", ")}.` : "", downstream ? `${plural(downstream, "downstream dataset")}.` : ""]
            .filter(Boolean)
            .join(" ") || undefined,
      };
    }
    case "dataset.removed":
      return {
        parts: [S, " is gone from its database"],
        label: "Removed",
        icon: "deprecate",
        tone: "warning",
        detail: "A complete crawl no longer found it; its history and lineage are kept.",
      };
    case "dataset.restored":
      return { parts: [S, " is back in its database"], label: "Restored", icon: "publish", tone: "success" };
    case "node.crawled": {
      const c = (p.counts ?? {}) as Record<string, unknown>;
      const n = (k: string) => (typeof c[k] === "number" ? (c[k] as number) : 0);
      const status = str(p.status) ?? "succeeded";
      return {
        parts: [A, " crawled ", S],
        label: "Crawl",
        icon: status === "failed" ? "failure" : "node",
        tone: status === "failed" ? "danger" : status === "partial" ? "warning" : "success",
        detail:
          status === "failed"
            ? "The crawl failed; nothing was changed."
            : `${n("created")} new, ${n("updated")} updated, ${n("removed")} removed${status === "partial" ? " (partial: nothing removed)" : ""}.`,
      };
    }
    case "dashboard.created":
      return {
        parts: [A, p.duplicated_from ? " copied a dashboard as " : " created the dashboard ", S],
        label: "Dashboard",
        icon: "lineage",
        tone: "success",
      };
    default: {
      const [kind, action] = item.type.split(".");
      return {
        parts: [A, ` ${(action ?? item.type).replace(/_/g, " ")} `, S],
        label: kind ? kind.charAt(0).toUpperCase() + kind.slice(1) : item.type,
        icon: "other",
        tone: "neutral",
      };
    }
  }
}

/** "Also changed the description and tags." for the other fields of a one-event change. */
function alsoChanged(fields: unknown, main: string): string {
  const others = arr(fields).filter((f): f is string => typeof f === "string" && f !== main && f !== "status");
  const words = Array.from(new Set(others.map((f) => FIELD_LABELS[f] ?? f.replace(/_/g, " "))));
  return words.length ? `Also changed the ${listing(words)}.` : "";
}

export function describeEvent(item: FeedItem): EventDescription {
  const subject = subjectName(item);
  const actor = actorName(item);
  const { parts, label, icon, tone, detail } = FIXED.get(item.type) ?? tell(item);
  // A deleted subject has no page any more.
  const gone = ["node.deleted", "process.deleted", "dashboard.deleted"].includes(item.type);
  const href = gone ? null : subjectHref(item.subject);
  const text = parts
    .map((part) => (typeof part === "string" ? part : "actor" in part ? actor : (part.label ?? subject)))
    .join("")
    .trim();
  return { parts, subject, href, actor, label, icon, tone, detail, text };
}

/* Lists ---------------------------------------------------------------------------------- */

/** Newest first; the id breaks ties (UUIDv7 ids sort by time too). */
export function compareItems(a: FeedItem, b: FeedItem): number {
  if (a.occurred_at !== b.occurred_at) return a.occurred_at < b.occurred_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Put live items in front of the loaded ones: no duplicates, newest first among the live ones. */
export function mergeLive(live: FeedItem[], loaded: FeedItem[]): FeedItem[] {
  const seen = new Set<string>();
  const out: FeedItem[] = [];
  for (const item of [...live].sort(compareItems)) {
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    out.push(item);
  }
  for (const item of loaded) {
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    out.push(item);
  }
  return out;
}

/** Add one item to a list unless it is there already. */
export function addUnique(list: FeedItem[], item: FeedItem): FeedItem[] {
  return list.some((x) => x.id === item.id) ? list : [item, ...list];
}

/** Does the item match the list's filters (dataset, event types)? */
export function matchesFilter(item: FeedItem, filter: { datasetId?: string | null; types?: string[] }): boolean {
  if (filter.datasetId && !(item.subject.kind === "dataset" && item.subject.id === filter.datasetId)) return false;
  if (filter.types && filter.types.length && !filter.types.includes(item.type)) return false;
  return true;
}

const dayFormat = typeof Intl !== "undefined" ? new Intl.DateTimeFormat("en", { dateStyle: "full" }) : null;

function dayKey(d: Date): string {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "Today", "Yesterday" or the date, for grouping a feed by day. */
export function dayLabel(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "Earlier";
  if (dayKey(d) === dayKey(now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
  return dayFormat ? dayFormat.format(d) : d.toDateString();
}

/** Consecutive runs of items on the same day. */
export function groupByDay(items: FeedItem[], now: Date = new Date()): { label: string; items: FeedItem[] }[] {
  const groups: { label: string; items: FeedItem[] }[] = [];
  for (const item of items) {
    const label = dayLabel(item.occurred_at, now);
    const last = groups[groups.length - 1];
    if (last && last.label === label) last.items.push(item);
    else groups.push({ label, items: [item] });
  }
  return groups;
}
