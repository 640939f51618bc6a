/** Pipeline health, shown the same way everywhere: an icon and a word (colour only adds to them). */
import { ActivityIcon, CheckCircleIcon, HelpCircleIcon, WarningIcon, XCircleIcon } from "./icons";
import { Badge } from "./ui";
import { HEALTH_INFO, healthOf, type HealthState } from "../lib/dashboardHealth";

export function HealthStateIcon({ state }: { state: HealthState }) {
  if (state === "ok") return <CheckCircleIcon />;
  if (state === "failing") return <XCircleIcon />;
  if (state === "breached") return <WarningIcon />;
  if (state === "running") return <ActivityIcon />;
  return <HelpCircleIcon />;
}

/** A badge: "Failing", "SLA breached", "Running", "Healthy", "No signal". */
export function HealthStateBadge({ state, prefix }: { state: string | null | undefined; prefix?: string }) {
  const s = healthOf(state);
  const info = HEALTH_INFO[s];
  return (
    <Badge tone={info.tone} icon={<HealthStateIcon state={s} />} title={info.description}>
      {prefix ? `${prefix} ` : ""}
      {info.label}
    </Badge>
  );
}

const SLA_STATES: Record<string, HealthState> = { ok: "ok", breached: "breached", unknown: "unknown" };
const SLA_LABELS: Record<string, string> = { ok: "On time", breached: "Late (SLA breached)", unknown: "Not evaluated yet" };

export function SlaStateBadge({ state }: { state: string | null | undefined }) {
  const s = SLA_STATES[state ?? "unknown"] ?? "unknown";
  return (
    <Badge tone={HEALTH_INFO[s].tone} icon={<HealthStateIcon state={s} />}>
      {SLA_LABELS[state ?? "unknown"] ?? state}
    </Badge>
  );
}

/** A labelled bar for a share (0..1). */
export function ShareBar({ label, share, count, total }: { label: string; share: number; count: number; total: number }) {
  const pct = Math.round(Math.max(0, Math.min(1, share || 0)) * 100);
  return (
    <div className="share-bar">
      <div className="share-bar__head">
        <span>{label}</span>
        <span className="share-bar__value">
          <strong>{pct}%</strong> <span className="subtle">({count} of {total})</span>
        </span>
      </div>
      <div
        className="share-bar__track"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={`${pct}%, ${count} of ${total}`}
      >
        <div className="share-bar__fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
