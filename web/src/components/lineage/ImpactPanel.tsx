/** Impact: what is downstream of a node, how far, how healthy, and who to tell before changing it. */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { Link } from "react-router";
import { lineageApi } from "../../api/endpoints";
import type { Impact, ImpactItem } from "../../api/types";
import { hiddenOwnersNote, nodeTitle } from "../../lib/lineage";
import { platformLabel } from "../datasets";
import { HealthBadge } from "../health";
import { BellIcon, CogIcon, DownloadIcon, LockIcon, UsersIcon, WarningIcon } from "../icons";
import { Alert, Avatar, Badge, buttonClass, CopyButton, EmptyState, ErrorAlert, LoadMore, Skeleton } from "../ui";

const DEPTHS = [1, 2, 3, 5, 10, 20];
/** Affected datasets and processes fetched per page. */
export const IMPACT_PAGE = 50;

const fmt = (n: number) => n.toLocaleString("en-US");

/** How many are affected at each distance: one bar per hop, scaled to the largest. */
export function DistanceBars({ counts }: { counts: NonNullable<Impact["by_distance"]> }) {
  if (!counts.length) return null;
  const max = Math.max(...counts.map((c) => c.count), 1);
  return (
    <div className="impact-bars" data-testid="impact-by-distance">
      <h3 className="impact-section">By distance</h3>
      <ul aria-label="Affected per distance">
        {counts.map((c) => (
          <li key={c.distance}>
            <span className="impact-bars__label">
              {c.distance} {c.distance === 1 ? "hop" : "hops"}
            </span>
            <span className="impact-bars__track" aria-hidden="true">
              <span className="impact-bars__bar" style={{ width: `${Math.max(2, (100 * c.count) / max)}%` }} />
            </span>
            <span className="impact-bars__count">{fmt(c.count)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function runLabel(state: string | null | undefined): string | null {
  if (!state) return null;
  return state.charAt(0) + state.slice(1).toLowerCase();
}

function ImpactRow({ item, hrefFor }: { item: ImpactItem; hrefFor: (id: string) => string }) {
  const title = nodeTitle(item);
  return (
    <li className="impact-item" data-testid="impact-item" data-kind={item.kind}>
      <span className={`impact-item__icon impact-item__icon--${item.restricted ? "restricted" : item.kind}`} aria-hidden="true">
        {item.restricted ? <LockIcon /> : item.kind === "process" ? <CogIcon /> : <span>DS</span>}
      </span>
      <div className="impact-item__main">
        <div className="impact-item__name">
          {item.kind === "dataset" && !item.restricted ? (
            <Link to={hrefFor(item.id)}>{title}</Link>
          ) : (
            <span className={item.restricted ? "subtle" : undefined}>{title}</span>
          )}
        </div>
        <div className="impact-item__meta">
          <span>{item.kind === "process" ? "Process" : "Dataset"}</span>
          {item.namespace ? <span className="mono">{item.namespace}</span> : null}
          {item.kind === "dataset" && !item.restricted ? (
            <span>
              {item.follower_count ?? 0} {item.follower_count === 1 ? "follower" : "followers"}
            </span>
          ) : null}
        </div>
        {item.owners && item.owners.length ? (
          <div className="impact-item__owners">Owners: {item.owners.join(", ")}</div>
        ) : null}
      </div>
      <div className="impact-item__side">
        <Badge tone="neutral" title="Dataset hops from the starting point">
          {item.distance} {item.distance === 1 ? "hop" : "hops"}
        </Badge>
        {item.restricted ? null : item.kind === "process" && item.latest_run_state ? (
          <HealthBadge status={item.health} title={`Last run: ${runLabel(item.latest_run_state)}`} prefix="Run" />
        ) : item.health ? (
          <HealthBadge status={item.health} />
        ) : null}
      </div>
    </li>
  );
}

export function ImpactPanel({
  nodeRef,
  hrefFor,
}: {
  nodeRef: string;
  hrefFor: (id: string) => string;
}) {
  const [depth, setDepth] = useState(20);
  const depthId = useId();
  const query = useInfiniteQuery({
    queryKey: ["lineage", "impact", nodeRef, depth],
    queryFn: ({ signal, pageParam }) =>
      lineageApi.impact({ node: nodeRef, depth, limit: IMPACT_PAGE, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
  // Totals, counts and people come with every page and cover the whole blast radius: the first
  // page's are the ones shown (later pages are the same walk, paged).
  const impact = query.data?.pages[0];
  const items = query.data?.pages.flatMap((p) => p.items) ?? [];
  const emails = impact?.notify.map((p) => p.email).filter((e): e is string => !!e) ?? [];
  const hiddenOwners = impact?.totals.hidden_owners ?? 0;
  const hiddenNote = impact ? hiddenOwnersNote(hiddenOwners, impact.notify.length) : null;
  const total = impact ? impact.totals.datasets + impact.totals.processes : 0;
  const platforms = impact?.by_platform ?? [];

  return (
    <section className="card impact" aria-labelledby="impact-heading" data-testid="impact-panel">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="impact-heading">
            Impact
          </h2>
          <p className="card__subtitle">What depends on {impact ? nodeTitle(impact.node) : "this"}, and who to tell before changing it.</p>
        </div>
        <div className="row">
          <label htmlFor={depthId} className="field__label" style={{ marginRight: 4 }}>
            Depth
          </label>
          <select id={depthId} className="select select--sm" value={depth} onChange={(e) => setDepth(Number(e.target.value))}>
            {DEPTHS.map((d) => (
              <option key={d} value={d}>
                {d === 20 ? "All (up to 20 hops)" : `${d} ${d === 1 ? "hop" : "hops"}`}
              </option>
            ))}
          </select>
          {impact && !impact.node.restricted ? (
            <Link
              className={buttonClass({ size: "sm" })}
              to={`/alerts?new=1&affects=${encodeURIComponent(impact.node.id)}&name=${encodeURIComponent(nodeTitle(impact.node))}`}
              title="Get a webhook, Slack message or e-mail when something upstream of this breaks"
            >
              <BellIcon /> Alert me
            </Link>
          ) : null}
          {impact && total ? (
            <a
              className={buttonClass({ size: "sm" })}
              href={lineageApi.impactExportUrl({ node: impact.node.id, depth })}
              download
              title="Every affected dataset and process, not only the pages shown"
            >
              <DownloadIcon /> Export CSV
            </a>
          ) : null}
        </div>
      </div>
      {query.isPending ? (
        <div className="card__body" style={{ display: "grid", gap: 10 }} role="status" aria-busy="true">
          <span className="sr-only">Computing impact…</span>
          <Skeleton width="40%" height={14} />
          <Skeleton width="80%" />
          <Skeleton width="70%" />
        </div>
      ) : query.isError && !impact ? (
        <div className="card__body">
          <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />
        </div>
      ) : impact ? (
        <>
          <div className="impact-totals" data-testid="impact-totals">
            <div>
              <strong>{fmt(impact.totals.datasets)}</strong> {impact.totals.datasets === 1 ? "dataset" : "datasets"}
            </div>
            <div>
              <strong>{fmt(impact.totals.processes)}</strong> {impact.totals.processes === 1 ? "process" : "processes"}
            </div>
            <div>
              <strong>{fmt(impact.totals.people)}</strong> {impact.totals.people === 1 ? "person" : "people"} to notify
              {hiddenOwners ? <span className="subtle"> (+{fmt(hiddenOwners)} hidden)</span> : null}
            </div>
            {impact.totals.restricted ? (
              <div>
                <strong>{fmt(impact.totals.restricted)}</strong> restricted
              </div>
            ) : null}
            {impact.exact ? (
              <Badge tone="success" title="Counted over the whole blast radius, however large">
                Exact
              </Badge>
            ) : null}
          </div>
          {impact.truncated ? (
            <div className="card__body" style={{ paddingBottom: 0 }}>
              <Alert tone="warning" title="Partial result">
                The graph is larger than the server walks in one request: there may be more downstream
                than counted. Lower the depth or start from a node further down.
              </Alert>
            </div>
          ) : null}
          {total === 0 ? (
            <EmptyState icon={<WarningIcon />} title="Nothing downstream">
              No dataset or process reads from it within {depth} {depth === 1 ? "hop" : "hops"}: changing it breaks
              nothing that lineage knows of.
            </EmptyState>
          ) : (
            <div className="impact-grid">
              <div>
                <h3 className="impact-section" data-testid="impact-shown">
                  Affected ({items.length < total ? `${fmt(items.length)} of ${fmt(total)}` : fmt(total)})
                </h3>
                <ul className="impact-list" aria-label="Affected datasets and processes">
                  {items.map((item, i) => (
                    // Keyed by position too: a graph changing between two pages may list a node twice.
                    <ImpactRow key={`${item.id}:${i}`} item={item} hrefFor={hrefFor} />
                  ))}
                </ul>
                {query.isFetchNextPageError ? (
                  <div style={{ marginTop: 12 }}>
                    <ErrorAlert error={query.error} onRetry={() => query.fetchNextPage()} retrying={query.isFetchingNextPage} />
                  </div>
                ) : (
                  <LoadMore query={query} className="load-more impact-more" />
                )}
              </div>
              <div>
                <DistanceBars counts={impact.by_distance ?? []} />
                {platforms.length ? (
                  <div className="impact-platforms" data-testid="impact-by-platform">
                    <h3 className="impact-section">By platform</h3>
                    <ul aria-label="Affected datasets per platform">
                      {platforms.map((p) => (
                        <li key={p.platform}>
                          <Badge tone="neutral">
                            {platformLabel(p.platform)} <strong>{fmt(p.count)}</strong>
                          </Badge>
                        </li>
                      ))}
                    </ul>
                  </div>
                ) : null}
                <div className="impact-section impact-section--row">
                  <h3 className="impact-section">People to notify ({impact.notify.length})</h3>
                  {emails.length ? <CopyButton text={emails.join(", ")} label="Copy emails" variant="ghost" /> : null}
                </div>
                {impact.notify.length ? (
                  <ul className="notify-list" aria-label="People to notify" data-testid="notify-list">
                    {impact.notify.map((p) => (
                      <li key={p.id ?? `named:${p.name}`} className="identity">
                        <Avatar name={p.name || p.email || "?"} seed={p.id ?? p.name} size="sm" />
                        <span className="identity__text">
                          <span className="cell-primary">{p.name}</span>
                          {p.email ? <span className="cell-secondary">{p.email}</span> : null}
                          <span className="notify-reasons">
                            {p.reasons.join(" · ")}
                            {p.reasons_total > p.reasons.length
                              ? ` · and ${(p.reasons_total - p.reasons.length).toLocaleString()} more`
                              : null}
                          </span>
                        </span>
                      </li>
                    ))}
                  </ul>
                ) : hiddenNote ? null : (
                  <p className="subtle impact-empty-people">
                    <UsersIcon /> Nobody owns or follows the affected datasets yet.
                  </p>
                )}
                {hiddenNote ? (
                  <p className="subtle impact-empty-people" data-testid="hidden-owners">
                    <LockIcon /> {hiddenNote}
                  </p>
                ) : null}
              </div>
            </div>
          )}
        </>
      ) : null}
    </section>
  );
}
