/** The Governance page's audit search state: in the URL (shareable), turned into API filters. */
import type { AuditFilters } from "../api/audit";

export interface AuditState {
  actor: string;
  action: string;
  target: string;
  query: string;
  /** Calendar days (YYYY-MM-DD) in the viewer's time zone; both ends included. */
  from: string;
  to: string;
  org: string;
}

export const EMPTY_AUDIT_STATE: AuditState = { actor: "", action: "", target: "", query: "", from: "", to: "", org: "" };

const KEYS = Object.keys(EMPTY_AUDIT_STATE) as (keyof AuditState)[];
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function parseAuditParams(params: URLSearchParams): AuditState {
  const out = { ...EMPTY_AUDIT_STATE };
  for (const k of KEYS) out[k] = (params.get(k) ?? "").trim();
  if (!DAY.test(out.from)) out.from = "";
  if (!DAY.test(out.to)) out.to = "";
  return out;
}

export function auditSearchParams(state: AuditState): URLSearchParams {
  const out = new URLSearchParams();
  for (const k of KEYS) if (state[k].trim()) out.set(k, state[k].trim());
  return out;
}

/** Local midnight of a YYYY-MM-DD day, as an ISO instant. */
function startOfDay(day: string, plusDays = 0): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + plusDays).toISOString();
}

/** API filters: the "to" day counts whole (until the next local midnight). */
export function toAuditFilters(state: AuditState): AuditFilters {
  const f: AuditFilters = {};
  if (state.actor) f.actor = state.actor;
  if (state.action) f.action = state.action;
  if (state.target) f.target = state.target;
  if (state.query) f.query = state.query;
  if (state.from) f.since = startOfDay(state.from);
  if (state.to) f.until = startOfDay(state.to, 1);
  if (state.org) f.org_id = state.org;
  return f;
}

export function activeAuditFilters(state: AuditState): number {
  return KEYS.filter((k) => state[k]).length;
}

/** Action families for the filter's suggestions (a trailing dot matches the whole family). */
export const ACTION_SUGGESTIONS = [
  "dataset.",
  "dataset.connect",
  "dataset.publish",
  "dataset.update",
  "dataset.visibility_change",
  "dataset.deprecate",
  "dataset.follow",
  "platform_profile.",
  "node.",
  "lineage.",
  "auth.",
  "auth.login_failed",
  "api_key.",
  "user.",
  "user.role_change",
  "org.",
];

/** A short, readable line for an audit change: `description: "v1" → "v2"`. */
export function describeChange(field: string, change: unknown): string {
  const c = (change && typeof change === "object" ? change : {}) as { before?: unknown; after?: unknown };
  const show = (v: unknown) => {
    if (v === null || v === undefined) return "—";
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}…` : s;
  };
  return `${field}: ${show(c.before)} → ${show(c.after)}`;
}
