import { isRouteErrorResponse, Link, useRouteError } from "react-router";
import { Alert, buttonClass } from "../components/ui";

/** Shown when a route fails to render or its code fails to load (e.g. after a deploy). */
export function RouteError() {
  const error = useRouteError();
  const stale = error instanceof TypeError && /dynamically imported module|Importing a module/i.test(error.message);
  const message = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : stale
      ? "A new version of DataMesh was installed. Reload the page to continue."
      : error instanceof Error
        ? error.message
        : "Unexpected error.";
  return (
    <div className="center-screen">
      <div style={{ maxWidth: 480, width: "100%" }}>
        <Alert
          tone="danger"
          title="This page could not be shown"
          actions={
            <div className="row">
              <button type="button" className={buttonClass({ size: "sm" })} onClick={() => window.location.reload()}>
                Reload
              </button>
              <Link className={buttonClass({ size: "sm", variant: "ghost" })} to="/catalog">
                Go to the catalog
              </Link>
            </div>
          }
        >
          {message}
        </Alert>
      </div>
    </div>
  );
}
