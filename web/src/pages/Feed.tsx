/** Feed: what changed in the datasets you follow and around you, live. */
import { useMemo, type ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import type { FeedMode } from "../api/types";
import { FeedTimeline } from "../components/feed";
import { BellIcon, CatalogIcon, ClockIcon } from "../components/icons";
import { EmptyState, PageHeader, TabPanel, Tabs, buttonClass } from "../components/ui";
import { EVENT_FILTERS } from "../lib/feed";

const TABS: { id: FeedMode; label: string; icon: ReactNode }[] = [
  { id: "for_you", label: "For you", icon: <BellIcon /> },
  { id: "recent", label: "Recent", icon: <ClockIcon /> },
];

export function Component() {
  const [params, setParams] = useSearchParams();
  const mode: FeedMode = params.get("mode") === "recent" ? "recent" : "for_you";
  const typeParam = params.get("type") ?? "";
  const types = useMemo(() => typeParam.split(",").filter(Boolean), [typeParam]);

  const set = (key: string, value: string) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace: true },
    );

  return (
    <>
      <PageHeader
        eyebrow="Discover"
        title="Feed"
        description="What changed in the datasets you follow and across your organization, as it happens."
      />
      <Tabs
        label="Feed"
        idPrefix="feed"
        tabs={TABS}
        value={mode}
        onChange={(id) => set("mode", id === "for_you" ? "" : id)}
      />
      <TabPanel idPrefix="feed" id={mode}>
        <FeedTimeline
          mode={mode}
          types={types}
          toolbar={
            <>
              <label htmlFor="feed-type" className="sr-only">
                Show
              </label>
              <select
                id="feed-type"
                className="select feed-toolbar__select"
                value={typeParam}
                onChange={(e) => set("type", e.target.value)}
              >
                {EVENT_FILTERS.map((f) => (
                  <option key={f.value} value={f.value}>
                    {f.label}
                  </option>
                ))}
              </select>
              <span className="subtle feed-toolbar__hint">
                {mode === "for_you"
                  ? "Datasets you follow first, then your organization."
                  : "Everything you can see, newest first."}
              </span>
            </>
          }
          empty={
            mode === "for_you" && !types.length ? (
              <EmptyState
                icon={<BellIcon />}
                title="Nothing for you yet"
                actions={
                  <Link className={buttonClass({ variant: "primary" })} to="/catalog">
                    <CatalogIcon /> Find datasets to follow
                  </Link>
                }
              >
                Follow datasets to hear about their changes, lineage and health here.
              </EmptyState>
            ) : undefined
          }
        />
      </TabPanel>
    </>
  );
}
