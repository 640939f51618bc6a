import { Link } from "react-router";
import { SearchIcon } from "../components/icons";
import { EmptyState, buttonClass } from "../components/ui";

export function Component() {
  return (
    <div className="card">
      <EmptyState
        icon={<SearchIcon />}
        title="Page not found"
        actions={
          <Link className={buttonClass({ variant: "primary" })} to="/catalog">
            Go to the catalog
          </Link>
        }
      >
        There is nothing at this address. It may have moved, or the link may be mistyped.
      </EmptyState>
    </div>
  );
}
