import type { ReactNode } from "react";
import type { Role, Visibility } from "../../api/types";
import { Badge, EmptyState, type Tone } from "../../components/ui";
import { LockIcon } from "../../components/icons";
import { roleLabel } from "../../components/UserMenu";

const ROLE_TONES: Record<Role, Tone> = {
  admin: "primary",
  steward: "info",
  producer: "success",
  viewer: "neutral",
};

export const ROLE_HELP: Record<Role, string> = {
  admin: "Admin: manages the organization, its people and settings",
  steward: "Steward: governance, audit and visibility of all datasets",
  producer: "Producer: publishes and edits datasets and lineage",
  viewer: "Viewer: finds and connects to datasets",
};

export function RoleBadge({ role }: { role: Role }) {
  return <Badge tone={ROLE_TONES[role]}>{roleLabel(role)}</Badge>;
}

/** The options of a role select. */
export function RoleOptions({ roles }: { roles: Role[] }) {
  return roles.map((r) => (
    <option key={r} value={r}>
      {roleLabel(r)}
    </option>
  ));
}

const VIS_TONES: Record<Visibility, Tone> = { public: "success", internal: "info", private: "warning" };

export function VisibilityBadge({ value }: { value: Visibility }) {
  return (
    <Badge tone={VIS_TONES[value]} icon={value === "private" ? <LockIcon /> : undefined}>
      {value.charAt(0).toUpperCase() + value.slice(1)}
    </Badge>
  );
}

/** Roles a principal may hand out (at most their own). */
const RANK: Record<Role, number> = { viewer: 0, producer: 1, steward: 2, admin: 3 };
export function rolesUpTo(role: Role, platformAdmin: boolean): Role[] {
  const all: Role[] = ["viewer", "producer", "steward", "admin"];
  return platformAdmin ? all : all.filter((r) => RANK[r] <= RANK[role]);
}

/** An admin list: a header row of column names, then a last column for each row's actions. */
export function AdminTable({ columns, children }: { columns: string[]; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
            <th scope="col" className="actions">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function NotAllowed({ what }: { what: string }) {
  return (
    <div className="card">
      <EmptyState icon={<LockIcon />} title="Admins only">
        Only organization admins can manage {what}. Ask an admin of your organization if you need access.
      </EmptyState>
    </div>
  );
}
