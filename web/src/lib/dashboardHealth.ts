/**
 * Live health of the datasets and processes on a canvas (`GET /api/monitoring/status`): what each
 * state is called, its tone, and which live events mean the colours may have changed.
 * A state is always shown as an icon and a word, never as a colour alone.
 */

export type HealthState = "ok" | "failing" | "breached" | "running" | "unknown";

export interface EntityStatus {
  kind: "dataset" | "process";
  health: HealthState;
  latest_run_state?: string | null;
  sla_state?: string | null;
}

export type StatusMap = Record<string, EntityStatus>;

export const HEALTH_INFO: Record<HealthState, { label: string; tone: "success" | "danger" | "warning" | "info" | "neutral"; description: string }> = {
  ok: { label: "Healthy", tone: "success", description: "Last run completed and fresh within its SLA" },
  failing: { label: "Failing", tone: "danger", description: "The last run failed" },
  breached: { label: "SLA breached", tone: "warning", description: "Not updated within its freshness SLA" },
  running: { label: "Running", tone: "info", description: "A run is in progress" },
  unknown: { label: "No signal", tone: "neutral", description: "No run or SLA reported yet" },
};

export function healthOf(value: string | null | undefined): HealthState {
  return value && value in HEALTH_INFO ? (value as HealthState) : "unknown";
}

/** Live events after which the health of what a canvas shows is read again. */
export const HEALTH_EVENT_TYPES: ReadonlySet<string> = new Set([
  "process.run_failed",
  "dataset.assertion_failed",
  "dataset.sla_breached",
  "dataset.sla_recovered",
  "run.failed",
  "run.completed",
  "run.started",
  "process.updated",
  "lineage.changed",
]);

export function isHealthEvent(type: string): boolean {
  return HEALTH_EVENT_TYPES.has(type);
}

/** The status endpoint takes at most this many ids per request. */
export const STATUS_BATCH = 500;

/** Ids in request-sized batches, sorted so the same set always makes the same requests. */
export function statusBatches(ids: Iterable<string>, size = STATUS_BATCH): string[][] {
  const sorted = Array.from(new Set(ids)).sort();
  const out: string[][] = [];
  for (let i = 0; i < sorted.length; i += size) out.push(sorted.slice(i, i + size));
  return out;
}

/** Counts per state, for the canvas's summary line ("2 failing, 1 SLA breached"). */
export function healthSummary(statuses: StatusMap, refs: string[]): { state: HealthState; count: number }[] {
  const counts = new Map<HealthState, number>();
  for (const ref of refs) {
    const s = statuses[ref];
    if (!s) continue;
    counts.set(s.health, (counts.get(s.health) ?? 0) + 1);
  }
  const order: HealthState[] = ["failing", "breached", "running", "ok", "unknown"];
  return order.filter((s) => counts.get(s)).map((state) => ({ state, count: counts.get(state)! }));
}

/* SLAs ------------------------------------------------------------------------------------------ */

export type SlaKind = "daily_by" | "max_age";

/** "HH:MM" on a 24-hour clock. */
export function isClockTime(value: string): boolean {
  return /^([01]\d|2[0-3]):[0-5]\d$/.test(value);
}

/** What an SLA promises, in words. */
export function slaText(sla: { kind: string; at?: string | null; hours?: number | null }): string {
  if (sla.kind === "daily_by") return `Updated daily by ${sla.at ?? "?"} UTC`;
  if (sla.kind === "max_age") {
    const h = sla.hours ?? 0;
    return `At most ${h} ${h === 1 ? "hour" : "hours"} old`;
  }
  return sla.kind;
}

/** Validate an SLA form; returns the body for `PUT /api/datasets/{id}/sla` or an error per field. */
export function slaBody(
  kind: SlaKind,
  at: string,
  hours: string,
): { body: { kind: "daily_by"; at: string } | { kind: "max_age"; hours: number } } | { errors: Record<string, string> } {
  if (kind === "daily_by") {
    const t = at.trim();
    if (!isClockTime(t)) return { errors: { at: "Enter a time as HH:MM (24-hour, UTC)." } };
    return { body: { kind, at: t } };
  }
  const n = Number(hours.trim());
  if (!hours.trim() || !Number.isInteger(n) || n < 1 || n > 8760) {
    return { errors: { hours: "Enter a whole number of hours from 1 to 8760." } };
  }
  return { body: { kind, hours: n } };
}

/** A share (0..1) as a whole percentage. */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  return `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
}
