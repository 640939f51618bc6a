import { Navigate } from "react-router";
import { isAdmin, useMe } from "../../api/queries";

export function Component() {
  const { data: me } = useMe();
  if (me?.is_platform_admin) return <Navigate to="/admin/organizations" replace />;
  return <Navigate to={isAdmin(me) ? "/admin/users" : "/admin/api-keys"} replace />;
}
