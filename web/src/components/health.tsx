/** Health of a connection or a job: always an icon and a word, never colour alone. */
import { healthLabel } from "../lib/feed";
import { CheckCircleIcon, HelpCircleIcon, XCircleIcon } from "./icons";
import { Badge, type Tone } from "./ui";

const TONES: Record<string, Tone> = { ok: "success", error: "danger", unknown: "neutral" };

export function HealthIcon({ status }: { status: string | null | undefined }) {
  if (status === "ok") return <CheckCircleIcon />;
  if (status === "error") return <XCircleIcon />;
  return <HelpCircleIcon />;
}

export function HealthBadge({
  status,
  prefix,
  title,
}: {
  status: string | null | undefined;
  prefix?: string;
  title?: string;
}) {
  return (
    <Badge tone={TONES[status ?? "unknown"] ?? "neutral"} icon={<HealthIcon status={status} />} title={title}>
      {prefix ? `${prefix} ` : ""}
      {healthLabel(status)}
    </Badge>
  );
}
