import { QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { createBrowserRouter, Navigate, RouterProvider, useLocation } from "react-router";
import { onUnauthorized } from "./api/client";
import { createQueryClient, keys, useMe } from "./api/queries";
import { BrandMark } from "./components/icons";
import { Layout } from "./components/Layout";
import { ToastProvider } from "./components/toasts";
import { ErrorAlert } from "./components/ui";
import { RouteError } from "./pages/RouteError";

function Boot() {
  return (
    <div className="center-screen">
      <div className="boot" role="status">
        <BrandMark />
        <span>Loading DataMesh…</span>
      </div>
    </div>
  );
}

/** Everything inside the shell needs a session; without one, go to sign-in and come back. */
function Protected() {
  const me = useMe();
  const location = useLocation();
  const qc = useQueryClient();

  useEffect(
    () =>
      onUnauthorized(() => {
        qc.setQueryData(keys.me, null);
      }),
    [qc],
  );

  if (me.isPending) return <Boot />;
  if (me.isError) {
    return (
      <div className="center-screen">
        <div style={{ maxWidth: 460, width: "100%" }}>
          <ErrorAlert error={me.error} onRetry={() => me.refetch()} retrying={me.isFetching} />
        </div>
      </div>
    );
  }
  if (!me.data) {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <Layout me={me.data} />;
}

const router = createBrowserRouter([
  {
    path: "/login",
    lazy: () => import("./pages/SignIn"),
    hydrateFallbackElement: <Boot />,
    errorElement: <RouteError />,
  },
  {
    path: "/",
    element: <Protected />,
    hydrateFallbackElement: <Boot />,
    errorElement: <RouteError />,
    children: [
      { index: true, element: <Navigate to="/catalog" replace /> },
      { path: "catalog", lazy: () => import("./pages/Catalog") },
      { path: "datasets/:id", lazy: () => import("./pages/Dataset") },
      { path: "feed", lazy: () => import("./pages/Feed") },
      { path: "lineage", lazy: () => import("./pages/Lineage") },
      { path: "processes/:id", lazy: () => import("./pages/Process") },
      { path: "dashboards", lazy: () => import("./pages/dashboards/DashboardsList") },
      { path: "dashboards/:id", lazy: () => import("./pages/dashboards/DashboardEditor") },
      { path: "health", lazy: () => import("./pages/Health") },
      { path: "alerts", lazy: () => import("./pages/Alerts") },
      { path: "nodes", lazy: () => import("./pages/Nodes") },
      { path: "profiles", lazy: () => import("./pages/Profiles") },
      { path: "governance", lazy: () => import("./pages/Governance") },
      {
        path: "admin",
        lazy: () => import("./pages/admin/AdminLayout"),
        children: [
          { index: true, lazy: () => import("./pages/admin/AdminIndex") },
          { path: "organizations", lazy: () => import("./pages/admin/Organizations") },
          { path: "users", lazy: () => import("./pages/admin/Users") },
          { path: "api-keys", lazy: () => import("./pages/admin/ApiKeys") },
        ],
      },
      { path: "*", lazy: () => import("./pages/NotFound") },
    ],
  },
]);

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <ToastProvider>
        <RouterProvider router={router} />
      </ToastProvider>
    </QueryClientProvider>
  );
}
