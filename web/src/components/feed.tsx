/** A live activity timeline: the feed API's pages plus items arriving on the stream. */
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Link } from "react-router";
import { feedApi } from "../api/endpoints";
import type { FeedItem, FeedMode } from "../api/types";
import {
  addUnique,
  describeEvent,
  groupByDay,
  matchesFilter,
  mergeLive,
  type EventIcon,
} from "../lib/feed";
import { useFeedStream, type StreamState } from "../lib/useFeedStream";
import {
  AlertIcon,
  ArrowUpIcon,
  BanIcon,
  BellIcon,
  EditIcon,
  EyeIcon,
  FeedIcon,
  InfoIcon,
  LineageIcon,
  LinkIcon,
  NodesIcon,
  UploadIcon,
} from "./icons";
import { Avatar, Button, EmptyState, ErrorAlert, Skeleton, Time } from "./ui";

const ICONS: Record<EventIcon, typeof FeedIcon> = {
  publish: UploadIcon,
  edit: EditIcon,
  visibility: EyeIcon,
  deprecate: BanIcon,
  follow: BellIcon,
  connect: LinkIcon,
  lineage: LineageIcon,
  node: NodesIcon,
  failure: AlertIcon,
  other: InfoIcon,
};

const STATE_TEXT: Record<StreamState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export function LiveIndicator({ state }: { state: StreamState }) {
  return (
    <span className={`live live--${state}`} role="status" data-testid="live-state" title="Updates arrive without reloading">
      <span className="live__dot" aria-hidden="true" />
      {STATE_TEXT[state]}
    </span>
  );
}

export function FeedEntry({ item, fresh, showSubject = true }: { item: FeedItem; fresh?: boolean; showSubject?: boolean }) {
  const d = describeEvent(item);
  const Icon = ICONS[d.icon];
  return (
    <li className={fresh ? "feed-item feed-item--fresh" : "feed-item"} data-testid="feed-item" data-type={item.type}>
      <span className={`feed-item__icon feed-item__icon--${d.tone}`} aria-hidden="true">
        <Icon />
      </span>
      <div className="feed-item__body">
        <p className="feed-item__text">
          {d.parts.map((part, i) =>
            typeof part === "string" ? (
              <span key={i}>{part}</span>
            ) : "actor" in part ? (
              <strong key={i} className="feed-item__actor">
                {d.actor}
              </strong>
            ) : d.href && showSubject ? (
              <Link key={i} to={d.href} className="feed-item__subject">
                {part.label ?? d.subject}
              </Link>
            ) : (
              <strong key={i}>{part.label ?? d.subject}</strong>
            ),
          )}
        </p>
        {d.detail ? <p className="feed-item__detail">{d.detail}</p> : null}
        <div className="feed-item__meta">
          <span className={`feed-item__label feed-item__label--${d.tone}`}>{d.label}</span>
          <span aria-hidden="true">·</span>
          <Time iso={item.occurred_at} />
        </div>
      </div>
      {item.actor.kind === "user" ? (
        <span className="feed-item__avatar">
          <Avatar name={item.actor.name} seed={item.actor.id ?? item.actor.name} size="sm" />
        </span>
      ) : null}
    </li>
  );
}

function FeedSkeleton({ rows = 5 }: { rows?: number }) {
  return (
    <div role="status" aria-busy="true" className="feed-skeleton">
      <span className="sr-only">Loading activity…</span>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="feed-item" aria-hidden="true">
          <span className="skeleton" style={{ width: 32, height: 32, borderRadius: 10 }} />
          <div style={{ display: "grid", gap: 8, flex: 1 }}>
            <Skeleton width={`${45 + ((i * 17) % 40)}%`} height={13} />
            <Skeleton width="22%" height={10} />
          </div>
        </div>
      ))}
    </div>
  );
}

/** Is the top of the list above the sticky header (the reader scrolled down)? */
function scrolledAway(el: HTMLElement | null): boolean {
  if (!el) return false;
  return el.getBoundingClientRect().top < 56;
}

export function FeedTimeline({
  mode = "recent",
  types = [],
  datasetId = null,
  toolbar,
  empty,
  pageSize = 30,
}: {
  mode?: FeedMode;
  types?: string[];
  datasetId?: string | null;
  toolbar?: ReactNode;
  empty?: ReactNode;
  pageSize?: number;
}) {
  const qc = useQueryClient();
  const queryKey = useMemo(() => ["feed", mode, types.join(","), datasetId ?? ""] as const, [mode, types, datasetId]);
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) =>
      feedApi.page({ mode, type: types, dataset_id: datasetId, limit: pageSize, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    staleTime: 0,
  });

  const [live, setLive] = useState<FeedItem[]>([]);
  const [pending, setPending] = useState<FeedItem[]>([]);
  const [announce, setAnnounce] = useState("");
  const listRef = useRef<HTMLDivElement>(null);

  // A different list (tab, filter): the fresh fetch has everything, start clean.
  const keyString = queryKey.join("|");
  const [seenKey, setSeenKey] = useState(keyString);
  if (seenKey !== keyString) {
    setSeenKey(keyString);
    setLive([]);
    setPending([]);
  }

  const filter = useMemo(() => ({ datasetId, types }), [datasetId, types]);
  const onItem = useCallback(
    (item: FeedItem) => {
      if (!matchesFilter(item, filter)) return;
      if (scrolledAway(listRef.current)) setPending((p) => addUnique(p, item));
      else setLive((l) => addUnique(l, item));
      setAnnounce(`New activity: ${describeEvent(item).text}`);
    },
    [filter],
  );
  const onResync = useCallback(() => {
    setLive([]);
    setPending([]);
    void qc.resetQueries({ queryKey });
  }, [qc, queryKey]);
  const stream = useFeedStream({ onItem, onResync });

  const flush = useCallback(() => {
    if (!pending.length) return;
    setLive((l) => pending.reduceRight((acc, item) => addUnique(acc, item), l));
    setPending([]);
  }, [pending]);

  // Back at the top by themselves: show what arrived meanwhile.
  useEffect(() => {
    if (!pending.length) return;
    const onScroll = () => {
      if (!scrolledAway(listRef.current)) flush();
    };
    window.addEventListener("scroll", onScroll, { passive: true });
    return () => window.removeEventListener("scroll", onScroll);
  }, [pending.length, flush]);

  const showNew = () => {
    flush();
    const el = listRef.current;
    if (el) {
      const top = el.getBoundingClientRect().top + window.scrollY - 56 - 24;
      window.scrollTo({ top: Math.max(top, 0), behavior: "smooth" });
    }
  };

  const loaded = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  const items = useMemo(() => mergeLive(live, loaded), [live, loaded]);
  const freshIds = useMemo(() => new Set(live.map((i) => i.id)), [live]);
  const groups = useMemo(() => groupByDay(items), [items]);

  return (
    <div className="feed" ref={listRef}>
      <div className="feed-toolbar">
        <div className="feed-toolbar__main">{toolbar}</div>
        <LiveIndicator state={stream} />
      </div>
      <span className="sr-only" role="status" aria-live="polite">
        {announce}
      </span>
      {pending.length ? (
        <div className="feed-banner">
          <Button variant="primary" size="sm" onClick={showNew} data-testid="new-items-banner">
            <ArrowUpIcon />
            <span>
              {pending.length} new {pending.length === 1 ? "event" : "events"}
            </span>
          </Button>
        </div>
      ) : null}
      {query.isPending ? (
        <div className="card">
          <FeedSkeleton />
        </div>
      ) : query.isError && !query.data ? (
        <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />
      ) : items.length === 0 ? (
        <div className="card">
          {empty ?? (
            <EmptyState icon={<FeedIcon />} title="No activity yet">
              Publishing, changes, lineage and health events appear here as they happen.
            </EmptyState>
          )}
        </div>
      ) : (
        <div className="card">
          {groups.map((g) => (
            <section key={g.label} className="feed-day" aria-label={g.label}>
              <h3 className="feed-day__title">{g.label}</h3>
              <ol className="feed-list">
                {g.items.map((item) => (
                  <FeedEntry key={item.id} item={item} fresh={freshIds.has(item.id)} />
                ))}
              </ol>
            </section>
          ))}
          {query.isError ? (
            <div className="card__body">
              <ErrorAlert error={query.error} onRetry={() => query.refetch()} />
            </div>
          ) : null}
          {query.hasNextPage ? (
            <div className="load-more">
              <Button size="sm" onClick={() => query.fetchNextPage()} loading={query.isFetchingNextPage}>
                Load older activity
              </Button>
            </div>
          ) : (
            <div className="feed-end">That is everything for now.</div>
          )}
        </div>
      )}
    </div>
  );
}
