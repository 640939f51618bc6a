/** A process (job): its runs with state, duration and error, its SQL and source, what it reads
 * and writes, its owners, and its lineage. */
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { lineageApi } from "../api/endpoints";
import { isApiError } from "../api/errors";
import { monitoringApi } from "../api/monitoring";
import type { GraphNode, Run } from "../api/types";
import { platformLabel } from "../components/datasets";
import { CheckCircleIcon, CogIcon, LineageIcon, LockIcon, XCircleIcon } from "../components/icons";
import { LineageExplorer } from "../components/lineage/LineageExplorer";
import { HealthStateBadge } from "../components/monitoring";
import {
  Avatar,
  Badge,
  CopyButton,
  EmptyState,
  ErrorAlert,
  LoadMore,
  PageHeader,
  TableSkeleton,
  Time,
  buttonClass,
} from "../components/ui";
import { highlightHtml } from "../lib/highlight";
import { nodeTitle } from "../lib/lineage";
import { formatDuration } from "../lib/quality";
import "./dataset/connect.css";
import "../components/quality.css";

const RUN_STATES: Record<string, string> = {
  COMPLETE: "ok",
  FAIL: "failing",
  ABORT: "failing",
  START: "running",
  RUNNING: "running",
};

const RUN_BADGES: Record<string, { label: string; tone: "success" | "danger" | "warning" | "info" | "neutral" }> = {
  COMPLETE: { label: "Completed", tone: "success" },
  FAIL: { label: "Failed", tone: "danger" },
  ABORT: { label: "Aborted", tone: "warning" },
  START: { label: "Running", tone: "info" },
  RUNNING: { label: "Running", tone: "info" },
};

function RunState({ state }: { state: string }) {
  const b = RUN_BADGES[state] ?? { label: state.charAt(0) + state.slice(1).toLowerCase(), tone: "neutral" as const };
  const icon = state === "COMPLETE" ? <CheckCircleIcon /> : state === "FAIL" || state === "ABORT" ? <XCircleIcon /> : undefined;
  return (
    <Badge tone={b.tone} icon={icon}>
      {b.label}
    </Badge>
  );
}

function Runs({ processId }: { processId: string }) {
  const q = useInfiniteQuery({
    queryKey: ["lineage", "runs", processId],
    queryFn: ({ pageParam, signal }) => monitoringApi.runs(processId, pageParam, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const runs: Run[] = useMemo(() => q.data?.pages.flatMap((p) => p.items) ?? [], [q.data]);
  if (q.isPending) return <TableSkeleton rows={3} columns={5} label="Loading runs" />;
  if (q.isError) return <ErrorAlert error={q.error} onRetry={() => q.refetch()} />;
  if (!runs.length) {
    return (
      <EmptyState icon={<CogIcon />} title="No runs yet">
        Runs appear as its producer sends OpenLineage events.
      </EmptyState>
    );
  }
  return (
    <>
      <div className="table-wrap">
        <table className="table" data-testid="runs">
          <caption className="sr-only">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Error</th>
              <th scope="col">Run</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.run_id} data-testid="run-row">
                <td>
                  <RunState state={r.state} />
                </td>
                <td>
                  <Time iso={r.started_at ?? r.event_time} />
                </td>
                <td>{formatDuration(r.duration_seconds)}</td>
                <td className="run-error" data-testid="run-error">
                  {r.error_message ? <span title={r.error_message}>{r.error_message}</span> : <span className="subtle">—</span>}
                </td>
                <td className="mono cell-secondary" title={r.run_id}>
                  {r.run_id.length > 13 ? `${r.run_id.slice(0, 13)}…` : r.run_id}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <LoadMore query={q} />
    </>
  );
}

function DatasetList({ items, empty, testId }: { items: GraphNode[]; empty: string; testId: string }) {
  if (!items.length) return <p className="subtle">{empty}</p>;
  return (
    <ul className="process-io" data-testid={testId}>
      {items.map((n) => (
        <li key={n.id}>
          {n.restricted ? (
            <span className="subtle" title="You do not have access to it">
              <LockIcon /> {nodeTitle(n)}
            </span>
          ) : (
            <>
              <Link to={`/datasets/${n.id}`}>{n.name}</Link>
              <span className="cell-secondary">
                {" "}
                {n.platform ? platformLabel(n.platform) : ""} · <span className="mono">{n.namespace}</span>
              </span>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

function Sql({ sql }: { sql: string }) {
  const html = useMemo(() => highlightHtml(sql, "sql"), [sql]);
  return (
    <div className="code-card" data-testid="process-sql">
      <div className="code-card__head">
        <span className="code-card__file">SQL</span>
        <CopyButton text={sql} label="Copy SQL" />
      </div>
      <pre className="code-card__pre">
        <code className="hljs language-sql" dangerouslySetInnerHTML={{ __html: html }} />
      </pre>
    </div>
  );
}

function SourceLocation({ source }: { source: Record<string, unknown> }) {
  const text = (k: string) => (typeof source[k] === "string" && source[k] ? String(source[k]) : null);
  const url = text("url") ?? text("repo_url");
  const safe = url && /^https?:\/\//i.test(url) ? url : null;
  const bits = [text("path"), text("branch") && `branch ${text("branch")}`, text("tag") && `tag ${text("tag")}`, text("version") && `version ${text("version")}`].filter(Boolean);
  if (!url && !bits.length) return null;
  return (
    <>
      <dt>Source</dt>
      <dd data-testid="process-source">
        {safe ? (
          <a href={safe} target="_blank" rel="noopener noreferrer">
            {url}
          </a>
        ) : url ? (
          <span className="mono">{url}</span>
        ) : null}
        {bits.length ? <div className="cell-secondary mono">{bits.join(" · ")}</div> : null}
        {text("type") ? <div className="cell-secondary">{text("type")}</div> : null}
      </dd>
    </>
  );
}

export function Component() {
  const { id = "" } = useParams();
  const [depth, setDepth] = useState({ up: 2, down: 2 });
  const q = useQuery({ queryKey: ["lineage", "process", id], queryFn: ({ signal }) => lineageApi.process(id, signal) });

  if (q.isPending) {
    return (
      <>
        <PageHeader eyebrow="Process" title="Loading…" />
        <TableSkeleton rows={4} columns={3} label="Loading the process" />
      </>
    );
  }
  if (q.isError) {
    if (isApiError(q.error) && q.error.status === 404) {
      return (
        <div className="card">
          <EmptyState icon={<CogIcon />} title="No such process">
            It does not exist, or it belongs to another organization.
          </EmptyState>
        </div>
      );
    }
    return <ErrorAlert error={q.error} onRetry={() => q.refetch()} />;
  }
  const p = q.data;
  return (
    <>
      <PageHeader
        eyebrow={
          <>
            Process · <span className="mono">{p.namespace}</span>
          </>
        }
        title={p.name}
        description={p.description || undefined}
        actions={
          <>
            <Badge tone="neutral">{p.type}</Badge>
            {p.latest_run_state ? <HealthStateBadge state={RUN_STATES[p.latest_run_state] ?? "unknown"} prefix="Last run:" /> : null}
            <Link className={buttonClass()} to={`/lineage?node=${encodeURIComponent(p.id)}`}>
              <LineageIcon /> Open in Lineage
            </Link>
          </>
        }
      />
      <div className="dataset-grid">
        <div className="stack">
          <section className="card" aria-labelledby="runs-heading">
            <div className="card__header">
              <h2 className="card__title" id="runs-heading">
                Runs
              </h2>
            </div>
            <Runs processId={p.id} />
          </section>
          {p.sql ? (
            <section className="card" aria-labelledby="sql-heading">
              <div className="card__header">
                <h2 className="card__title" id="sql-heading">
                  SQL
                </h2>
              </div>
              <div className="card__body">
                <Sql sql={p.sql} />
              </div>
            </section>
          ) : null}
          <section className="card" aria-labelledby="lineage-heading">
            <div className="card__header">
              <h2 className="card__title" id="lineage-heading">
                Lineage
              </h2>
            </div>
            <div className="card__body">
              <LineageExplorer
                nodeRef={p.id}
                up={depth.up}
                down={depth.down}
                onDepthChange={setDepth}
                datasetHref={(other) => `/datasets/${other}`}
                height={420}
                showImpact={false}
              />
            </div>
          </section>
        </div>
        <aside className="stack" aria-label="Details">
          <section className="card" aria-labelledby="io-heading">
            <div className="card__header">
              <h2 className="card__title" id="io-heading">
                Reads and writes
              </h2>
            </div>
            <div className="card__body">
              <dl className="definition-list">
                <dt>Inputs</dt>
                <dd>
                  <DatasetList items={p.inputs ?? []} empty="Reads no dataset." testId="process-inputs" />
                </dd>
                <dt>Outputs</dt>
                <dd>
                  <DatasetList items={p.outputs ?? []} empty="Writes no dataset." testId="process-outputs" />
                </dd>
              </dl>
            </div>
          </section>
          <section className="card" aria-labelledby="pdetails-heading">
            <div className="card__header">
              <h2 className="card__title" id="pdetails-heading">
                Details
              </h2>
            </div>
            <div className="card__body">
              <dl className="definition-list">
                <dt>Owners</dt>
                <dd data-testid="process-owners">
                  {p.owners.length ? (
                    <ul className="people">
                      {p.owners.map((o) => (
                        <li key={o} className="identity">
                          <Avatar name={o.replace(/^[a-z]+:/, "")} seed={o} size="sm" />
                          <span className="identity__text">
                            <span>{o.replace(/^[a-z]+:/, "")}</span>
                            {/^[a-z]+:/.test(o) ? <span className="cell-secondary">{o.split(":")[0]}</span> : null}
                          </span>
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="subtle">No owner</span>
                  )}
                </dd>
                <SourceLocation source={p.source_code} />
                <dt>Origin</dt>
                <dd>{p.origin}</dd>
                <dt>Last run</dt>
                <dd>
                  <Time iso={p.latest_run_at} />
                </dd>
                <dt>Created</dt>
                <dd>
                  <Time iso={p.created_at} />
                </dd>
              </dl>
            </div>
          </section>
        </aside>
      </div>
    </>
  );
}
