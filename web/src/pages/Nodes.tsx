/** Nodes: connections to data platforms, their health, and a form per connector type. */
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router";
import { connectorsApi, nodesApi } from "../api/endpoints";
import { canCrawl, isAdmin, useMe } from "../api/queries";
import type { Connector, DataNode, NodeSort, NodeStatus } from "../api/types";
import { PlatformTile, platformLabel } from "../components/datasets";
import { HealthBadge } from "../components/health";
import { AlertIcon, NodesIcon, PlayIcon, PlusIcon, SearchIcon } from "../components/icons";
import { useToast } from "../components/toasts";
import { Button, EmptyState, ErrorAlert, LoadMore, PageHeader, SearchBox, Skeleton, Time } from "../components/ui";
import { targetSummary } from "../lib/jsonSchemaForm";
import { NodeDetailsDialog } from "./nodes/NodeDetails";
import { NodeFormDialog, intervalLabel } from "./nodes/NodeForm";

const STATUSES: { value: "" | NodeStatus; label: string }[] = [
  { value: "", label: "Any status" },
  { value: "ok", label: "OK" },
  { value: "error", label: "Error" },
  { value: "unknown", label: "Unknown" },
];
const SORTS: { value: NodeSort; label: string }[] = [
  { value: "name", label: "Name (A–Z)" },
  { value: "updated", label: "Recently updated" },
  { value: "status", label: "Status (errors first)" },
];

function NodeCard({
  node,
  connector,
  onOpen,
}: {
  node: DataNode;
  connector: Connector | undefined;
  onOpen: () => void;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const test = useMutation({
    mutationFn: () => nodesApi.test(node.id),
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ["nodes"] });
      const latency = r.latency_ms != null ? ` · ${Math.round(r.latency_ms)} ms` : "";
      if (r.ok) toast.success(`${node.name}: connection OK${latency}`, r.message);
      else toast.error(`${node.name}: ${r.status === "unknown" ? "not testable" : "connection failed"}`, r.message);
    },
    onError: (err) => toast.fromError(err, `Could not test ${node.name}`),
  });
  const canTest = connector?.capabilities.test_connection !== false;
  const target = targetSummary(node.config);
  return (
    <li className={`node-card node-card--${node.status}`} data-testid="node-card">
      <div className="node-card__head">
        <PlatformTile platform={node.type} size={36} />
        <div className="node-card__title-wrap">
          <h2 className="node-card__title">
            <button type="button" className="node-card__open" onClick={onOpen}>
              {node.name}
            </button>
          </h2>
          <div className="node-card__type">{connector?.title ?? platformLabel(node.type)}</div>
        </div>
        <HealthBadge status={node.status} />
      </div>
      {target ? (
        <div className="node-card__target mono" title={target}>
          {target}
        </div>
      ) : null}
      {node.status === "error" && node.last_message ? (
        <p className="node-card__message">
          <AlertIcon />
          <span>{node.last_message}</span>
        </p>
      ) : null}
      {node.last_crawl ? (
        <p className="node-card__crawl subtle" data-testid="node-card-crawl">
          {["queued", "running"].includes(node.last_crawl.status) ? (
            "Crawling…"
          ) : (
            <>
              Crawl {node.last_crawl.status}
              {node.last_crawl.finished_at ? (
                <>
                  {" "}
                  <Time iso={node.last_crawl.finished_at} />
                </>
              ) : null}
              {node.last_crawl.status !== "failed"
                ? ` · ${node.last_crawl.counts.created ?? 0} new, ${node.last_crawl.counts.updated ?? 0} updated, ${node.last_crawl.counts.removed ?? 0} removed`
                : ""}
              {node.last_crawl.errors ? ` · ${node.last_crawl.errors} ${node.last_crawl.errors === 1 ? "error" : "errors"}` : ""}
            </>
          )}
        </p>
      ) : null}
      {node.tags.length ? (
        <div className="node-card__tags">
          {node.tags.map((t) => (
            <span key={t} className="tag">
              #{t}
            </span>
          ))}
        </div>
      ) : null}
      <div className="node-card__foot">
        <span className="subtle">
          {node.last_checked_at ? (
            <>
              Checked <Time iso={node.last_checked_at} />
              {node.last_latency_ms != null ? ` · ${Math.round(node.last_latency_ms)} ms` : ""}
            </>
          ) : (
            "Never checked"
          )}
          {node.check_interval_seconds ? ` · ${intervalLabel(node.check_interval_seconds)}` : ""}
        </span>
        <Button
          size="sm"
          variant="ghost"
          onClick={() => test.mutate()}
          loading={test.isPending}
          disabled={!canTest}
          aria-label={`Test ${node.name}`}
          title={canTest ? "Test the connection now" : "This connector type has no live test"}
        >
          <PlayIcon /> Test
        </Button>
      </div>
    </li>
  );
}

function CardsSkeleton() {
  return (
    <ul className="node-grid" aria-hidden="true">
      {[0, 1, 2, 3, 4, 5].map((i) => (
        <li key={i} className="node-card">
          <div className="node-card__head">
            <span className="skeleton" style={{ width: 36, height: 36, borderRadius: 10 }} />
            <div style={{ display: "grid", gap: 8, flex: 1 }}>
              <Skeleton width={`${50 + i * 5}%`} height={14} />
              <Skeleton width="30%" height={10} />
            </div>
          </div>
          <Skeleton width="80%" height={10} />
          <Skeleton width="40%" height={10} />
        </li>
      ))}
    </ul>
  );
}

export function Component() {
  const [params, setParams] = useSearchParams();
  const { data: me } = useMe();
  const admin = isAdmin(me);
  const q = params.get("q") ?? "";
  const type = params.get("type") ?? "";
  const statusParam = params.get("status");
  const status = STATUSES.some((s) => s.value === statusParam) ? (statusParam as NodeStatus) : "";
  const sortParam = params.get("sort");
  const sort: NodeSort = SORTS.some((s) => s.value === sortParam) ? (sortParam as NodeSort) : "name";
  const openId = params.get("node");
  const typeId = useId();
  const statusId = useId();
  const sortId = useId();

  // From the live URL, not the render's copy: the debounced search calls this later.
  const setParam = (key: string, value: string, replace = true) =>
    setParams(
      () => {
        const next = new URLSearchParams(window.location.search);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace },
    );

  // The search box is local; the URL follows after a pause.
  const [text, setText] = useState(q);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const onType = (value: string) => {
    setText(value);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setParam("q", value.trim()), 250);
  };

  const connectors = useQuery({
    queryKey: ["connectors"],
    queryFn: ({ signal }) => connectorsApi.list(signal),
    staleTime: 10 * 60_000,
  });
  const connectorList = useMemo(() => connectors.data?.items ?? [], [connectors.data]);
  const connectorOf = (t: string) => connectorList.find((c) => c.type === t);

  const filters = { q: q || undefined, type: type || undefined, status: status || undefined, sort };
  const list = useInfiniteQuery({
    queryKey: ["nodes", "list", filters],
    queryFn: ({ pageParam, signal }) => nodesApi.list({ ...filters, limit: 24, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const filtered = !!(q || type || status);

  const open = useQuery({
    queryKey: ["nodes", "one", openId],
    queryFn: ({ signal }) => nodesApi.get(openId!, signal),
    enabled: !!openId,
    initialData: () => items.find((n) => n.id === openId),
  });

  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<DataNode | null>(null);

  return (
    <>
      <PageHeader
        eyebrow="Operate"
        title="Nodes"
        description="Connections to your data platforms: where they point, and whether DataMesh can reach them."
        actions={
          admin ? (
            <Button variant="primary" onClick={() => setCreating(true)}>
              <PlusIcon /> New node
            </Button>
          ) : null
        }
      />
      <div className="nodes-toolbar">
        <SearchBox
          className="catalog__search nodes-toolbar__search"
          label="Search nodes"
          placeholder="Search by name or tag"
          value={text}
          onChange={onType}
        />
        <label htmlFor={typeId} className="sr-only">
          Type
        </label>
        <select id={typeId} className="select" value={type} onChange={(e) => setParam("type", e.target.value)}>
          <option value="">Any type</option>
          {connectorList.map((c) => (
            <option key={c.type} value={c.type}>
              {c.title}
            </option>
          ))}
        </select>
        <label htmlFor={statusId} className="sr-only">
          Status
        </label>
        <select id={statusId} className="select" value={status} onChange={(e) => setParam("status", e.target.value)}>
          {STATUSES.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
        <label htmlFor={sortId} className="sr-only">
          Sort by
        </label>
        <select
          id={sortId}
          className="select"
          value={sort}
          onChange={(e) => setParam("sort", e.target.value === "name" ? "" : e.target.value)}
        >
          {SORTS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </div>

      {list.isPending ? (
        <CardsSkeleton />
      ) : list.isError && !list.data ? (
        <ErrorAlert error={list.error} onRetry={() => list.refetch()} retrying={list.isFetching} />
      ) : items.length === 0 ? (
        <div className="card">
          {filtered ? (
            <EmptyState
              icon={<SearchIcon />}
              title="No nodes match"
              actions={
                <Button
                  onClick={() => {
                    setText("");
                    setParams(new URLSearchParams(), { replace: true });
                  }}
                >
                  Clear search and filters
                </Button>
              }
            >
              Try another name, type or status.
            </EmptyState>
          ) : (
            <EmptyState
              icon={<NodesIcon />}
              title="No nodes yet"
              actions={
                admin ? (
                  <Button variant="primary" onClick={() => setCreating(true)}>
                    <PlusIcon /> Add the first node
                  </Button>
                ) : null
              }
            >
              A node is a connection to a warehouse, a database or an API. DataMesh tests it and shows its health
              on the datasets that live there.
            </EmptyState>
          )}
        </div>
      ) : (
        <>
          <p className="nodes-count" aria-live="polite" data-testid="node-count">
            {items.length} {items.length === 1 ? "node" : "nodes"}
            {list.hasNextPage ? " shown" : ""}
            {list.isFetching && !list.isFetchingNextPage ? <span className="spinner" aria-hidden="true" /> : null}
          </p>
          <ul className="node-grid" style={{ opacity: list.isPlaceholderData ? 0.6 : 1 }} aria-label="Nodes">
            {items.map((n) => (
              <NodeCard key={n.id} node={n} connector={connectorOf(n.type)} onOpen={() => setParam("node", n.id, false)} />
            ))}
          </ul>
          <LoadMore query={list} className="load-more load-more--plain" />
        </>
      )}

      <NodeDetailsDialog
        node={openId ? (open.data ?? null) : null}
        connectors={connectorList}
        canWrite={admin}
        canCrawl={canCrawl(me)}
        onClose={() => setParam("node", "")}
        onEdit={(n) => {
          setParam("node", "");
          setEditing(n);
        }}
      />
      {openId && open.isError ? (
        <div style={{ marginTop: "var(--space-4)" }}>
          <ErrorAlert error={open.error} onRetry={() => open.refetch()} />
        </div>
      ) : null}
      <NodeFormDialog
        open={creating || !!editing}
        node={editing}
        connectors={connectorList}
        onClose={() => {
          setCreating(false);
          setEditing(null);
        }}
        onSaved={(n) => {
          if (!editing) setParam("node", n.id, false);
        }}
      />
    </>
  );
}
