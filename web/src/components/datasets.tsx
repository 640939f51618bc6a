/** Dataset badges and labels shared by the catalog and the dataset page. */
import { VISIBILITIES, type Dataset, type DatasetSummary, type Visibility } from "../api/types";
import { Badge, type Tone } from "./ui";
import { BanIcon, LockIcon, UsersIcon } from "./icons";
import { platformLabel } from "../lib/platforms";

const PLATFORM_COLOURS: Record<string, string> = {
  snowflake: "#29b5e8",
  databricks: "#ff3621",
  bigquery: "#4285f4",
  redshift: "#8c4fff",
  postgresql: "#336791",
  s3: "#7aa116",
  kafka: "#6b7280",
  http_api: "#0d9488",
};

export { platformLabel };

/** A square tile with the platform's initials (colour is decoration; the name is always shown). */
export function PlatformTile({ platform, size = 40 }: { platform: string; size?: number }) {
  const label = platformLabel(platform);
  const letters = label.replace(/[^A-Za-z0-9]/g, "").slice(0, 2);
  return (
    <span
      className="platform-tile"
      style={{ width: size, height: size, ["--tile" as string]: PLATFORM_COLOURS[platform] ?? "var(--color-primary)" }}
      aria-hidden="true"
    >
      {letters}
    </span>
  );
}

export function PlatformBadge({ platform }: { platform: string }) {
  return (
    <Badge tone="neutral">
      <span className="platform-dot" style={{ background: PLATFORM_COLOURS[platform] ?? "currentColor" }} />
      {platformLabel(platform)}
    </Badge>
  );
}

const VIS: Record<Visibility, { tone: Tone; label: string; title: string }> = {
  public: { tone: "success", label: "Public", title: "Every signed-in user can see it" },
  internal: { tone: "info", label: "Internal", title: "Everyone in the owning organization can see it" },
  private: { tone: "warning", label: "Private", title: "Only owners, org admins and stewards can see it" },
};

/** The options of a visibility select. */
export function VisibilityOptions() {
  return VISIBILITIES.map((v) => (
    <option key={v} value={v}>
      {VIS[v].label}
    </option>
  ));
}

export function DatasetVisibilityBadge({ visibility }: { visibility: Visibility }) {
  const v = VIS[visibility];
  return (
    <Badge
      tone={v.tone}
      title={v.title}
      icon={visibility === "private" ? <LockIcon /> : visibility === "internal" ? <UsersIcon /> : undefined}
    >
      {v.label}
    </Badge>
  );
}

export function StatusBadge({ ds }: { ds: Pick<Dataset | DatasetSummary, "status"> }) {
  if (ds.status !== "deprecated") return null;
  return (
    <Badge tone="danger" icon={<BanIcon />}>
      Deprecated
    </Badge>
  );
}

export function datasetTitle(ds: Pick<DatasetSummary, "display_name" | "name">): string {
  return ds.display_name || ds.name;
}
