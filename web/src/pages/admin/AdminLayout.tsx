import { NavLink, Outlet } from "react-router";
import { isAdmin, useMe } from "../../api/queries";
import { BuildingIcon, KeyIcon, UsersIcon } from "../../components/icons";
import { PageHeader } from "../../components/ui";

export function Component() {
  const { data: me } = useMe();
  const admin = isAdmin(me);
  return (
    <>
      <PageHeader
        eyebrow="Settings"
        title="Administration"
        description={
          admin
            ? "Manage organizations, people and their roles, and API keys for machines."
            : "Manage your API keys for scripts and pipelines."
        }
      />
      <nav className="tabs" aria-label="Administration sections">
        {admin ? (
          <NavLink className="tab" to="/admin/organizations">
            <BuildingIcon /> {me?.is_platform_admin ? "Organizations" : "Organization"}
          </NavLink>
        ) : null}
        {admin ? (
          <NavLink className="tab" to="/admin/users">
            <UsersIcon /> Users
          </NavLink>
        ) : null}
        <NavLink className="tab" to="/admin/api-keys">
          <KeyIcon /> API keys
        </NavLink>
      </nav>
      <Outlet />
    </>
  );
}
