/** Data quality and run figures as people read them: trends, failed checks, sizes, durations. */
import type { QualityAssertion, QualityRecord } from "../api/types";

export interface TrendPoint {
  at: string;
  value: number;
}

/** Row counts oldest first (for a trend line), skipping runs that reported none. */
export function rowCountTrend(history: readonly QualityRecord[]): TrendPoint[] {
  return history
    .filter((h) => typeof h.row_count === "number")
    .map((h) => ({ at: h.event_time, value: h.row_count as number }))
    .reverse();
}

/** The change of the last point against the one before, as a sentence ("+12.5% since the previous run"). */
export function trendChange(points: readonly TrendPoint[]): string | null {
  const last = points[points.length - 1]?.value;
  const before = points[points.length - 2]?.value;
  if (last === undefined || before === undefined) return null;
  if (before === 0) return last === 0 ? "No change since the previous run" : null;
  const pct = ((last - before) / before) * 100;
  if (Math.abs(pct) < 0.05) return "No change since the previous run";
  const shown = Math.abs(pct) >= 10 ? pct.toFixed(0) : pct.toFixed(1);
  return `${pct > 0 ? "+" : ""}${shown}% since the previous run`;
}

/** An SVG polyline's points for a trend in a width x height box (a flat line when constant). */
export function sparklinePoints(points: readonly TrendPoint[], width: number, height: number, pad = 2): string {
  if (!points.length) return "";
  const values = points.map((p) => p.value);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const step = points.length > 1 ? (width - pad * 2) / (points.length - 1) : 0;
  return points
    .map((p, i) => {
      const x = points.length > 1 ? pad + i * step : width / 2;
      const y = max === min ? height / 2 : pad + (1 - (p.value - min) / span) * (height - pad * 2);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

export function failedAssertions(record: Pick<QualityRecord, "assertions"> | null | undefined): QualityAssertion[] {
  return (record?.assertions ?? []).filter((a) => !a.success);
}

/** "not_null on amount", "unique", with a name when the producer gave one. */
export function assertionLabel(a: Pick<QualityAssertion, "assertion" | "column" | "name">): string {
  const base = a.column ? `${a.assertion} on ${a.column}` : a.assertion;
  return a.name && a.name !== a.assertion ? `${a.name} (${base})` : base;
}

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** 4300 -> "4.2 KB" (binary multiples, as storage reports them). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString("en-US");
}

/** 420 -> "7m 0s"; 3725 -> "1h 2m"; under a minute in seconds. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  const h = Math.floor(s / 3600);
  return `${h}h ${Math.floor((s % 3600) / 60)}m`;
}
