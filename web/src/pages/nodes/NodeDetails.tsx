/** One node: its health, settings, secret references and check history; test, edit, delete. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { connectorsApi, nodesApi } from "../../api/endpoints";
import type { Connector, Crawl, DataNode, TestResult } from "../../api/types";
import { PlatformTile } from "../../components/datasets";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { HealthBadge } from "../../components/health";
import { EditIcon, KeyIcon, PlayIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import { Button, EmptyState, ErrorAlert, TableSkeleton, Time } from "../../components/ui";
import { fieldsFromSchema, targetSummary } from "../../lib/jsonSchemaForm";
import { TestOutcome, intervalLabel } from "./NodeForm";

function show(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${String(x)}`)
      .join("\n");
  return String(v);
}

function CheckHistory({ nodeId }: { nodeId: string }) {
  const checks = useQuery({
    queryKey: ["nodes", "checks", nodeId],
    queryFn: ({ signal }) => nodesApi.checks(nodeId, signal),
  });
  if (checks.isPending) return <TableSkeleton rows={3} columns={4} label="Loading checks" />;
  if (checks.isError) return <ErrorAlert error={checks.error} onRetry={() => checks.refetch()} />;
  if (!checks.data.items.length) {
    return (
      <EmptyState icon={<PlayIcon />} title="Never checked">
        Test the connection to record its first check.
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table table--compact" data-testid="check-history">
        <caption className="sr-only">Latest connection checks, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Result</th>
            <th scope="col" className="num">
              Latency
            </th>
            <th scope="col">Trigger</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {checks.data.items.map((c) => (
            <tr key={c.checked_at}>
              <td>
                <Time iso={c.checked_at} />
              </td>
              <td>
                <HealthBadge status={c.status} />
              </td>
              <td className="num">{c.latency_ms != null ? `${Math.round(c.latency_ms)} ms` : "—"}</td>
              <td className="muted">{c.trigger === "schedule" ? "Scheduled" : "By hand"}</td>
              <td className="muted check-message">{c.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const CRAWL_ACTIVE = ["queued", "running"];

function crawlSummary(c: Crawl): string {
  const n = c.counts;
  return `${n.created} new · ${n.updated} updated · ${n.unchanged} unchanged · ${n.removed} removed`;
}

function CrawlProgressLine({ crawl }: { crawl: Crawl }) {
  const step = crawl.progress.step ?? "";
  const done = crawl.progress.done ?? 0;
  const total = crawl.progress.total ?? 0;
  const pct = total ? Math.round((100 * done) / total) : null;
  return (
    <div className="crawl-progress" role="status" aria-live="polite" data-testid="crawl-progress">
      <span className="spinner" aria-hidden="true" />
      {crawl.status === "queued" ? "Waiting for a worker…" : step ? step.charAt(0).toUpperCase() + step.slice(1) : "Starting…"}
      {pct !== null && crawl.status === "running" ? ` · ${done}/${total} (${pct}%)` : ""}
    </div>
  );
}

/** The node's latest crawl (live while it runs), its counts and errors, and "Crawl now". */
function Crawls({ nodeId, canCrawl, interval }: { nodeId: string; canCrawl: boolean; interval: number | null }) {
  const qc = useQueryClient();
  const toast = useToast();
  const crawls = useQuery({
    queryKey: ["nodes", "crawls", nodeId],
    queryFn: ({ signal }) => nodesApi.crawls(nodeId, 5, signal),
    refetchInterval: (q) => (q.state.data?.items.some((c) => CRAWL_ACTIVE.includes(c.status)) ? 1000 : false),
  });
  const start = useMutation({
    mutationFn: () => nodesApi.crawl(nodeId),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ["nodes", "crawls", nodeId] }),
    onError: (err) => toast.fromError(err, "Could not start the crawl"),
  });
  const latest = crawls.data?.items[0];
  const running = !!latest && CRAWL_ACTIVE.includes(latest.status);
  const wasRunning = useRef(false);
  useEffect(() => {
    // A crawl just ended: the node list shows its outcome too.
    if (wasRunning.current && !running) void qc.invalidateQueries({ queryKey: ["nodes", "list"] });
    wasRunning.current = running;
  }, [running, qc]);
  return (
    <section aria-labelledby="node-crawls" data-testid="node-crawls">
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h3 className="form-section__title" id="node-crawls">
          Crawls
        </h3>
        <Button
          onClick={() => start.mutate()}
          loading={start.isPending}
          disabled={!canCrawl || running}
          title={canCrawl ? undefined : "Admins and stewards crawl nodes"}
        >
          <PlayIcon /> Crawl now
        </Button>
      </div>
      <p className="subtle">
        {interval ? `Crawled every ${interval} min` : "Crawled on demand"}: tables, views and columns become datasets,
        with the lineage their SQL implies.
      </p>
      {crawls.isPending ? <TableSkeleton rows={1} columns={3} label="Loading crawls" /> : null}
      {crawls.isError ? <ErrorAlert error={crawls.error} onRetry={() => crawls.refetch()} /> : null}
      {crawls.data && !latest ? <p className="muted">Never crawled.</p> : null}
      {latest ? (
        <div className="stack" style={{ gap: "var(--space-2)" }} data-testid="last-crawl">
          {running ? (
            <CrawlProgressLine crawl={latest} />
          ) : (
            <div>
              <span
                className={`badge badge--${latest.status === "succeeded" ? "success" : latest.status === "partial" ? "warning" : "danger"}`}
              >
                {latest.status}
              </span>{" "}
              {latest.finished_at ? <Time iso={latest.finished_at} /> : null}
              {latest.status !== "failed" ? <span className="muted"> · {crawlSummary(latest)}</span> : null}
            </div>
          )}
          {latest.errors.length ? (
            <ul className="crawl-errors" aria-label="Crawl errors">
              {latest.errors.slice(0, 20).map((e, i) => (
                <li key={i}>
                  {e.object ? <span className="mono">{e.object}</span> : null}
                  {e.object ? ": " : ""}
                  {e.message}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

export function NodeDetailsDialog({
  node,
  connectors,
  canWrite,
  canCrawl = false,
  onClose,
  onEdit,
}: {
  node: DataNode | null;
  connectors: Connector[];
  canWrite: boolean;
  canCrawl?: boolean;
  onClose: () => void;
  onEdit: (node: DataNode) => void;
}) {
  const connector = connectors.find((c) => c.type === node?.type);
  return (
    <Dialog
      open={!!node}
      onClose={onClose}
      size="lg"
      title={
        node ? (
          <span className="row">
            <PlatformTile platform={node.type} size={28} />
            {node.name}
          </span>
        ) : (
          ""
        )
      }
      description={node ? `${connector?.title ?? node.type} · ${targetSummary(node.config) || "no address"}` : undefined}
    >
      {node ? (
        <Details
          node={node}
          connector={connector}
          canWrite={canWrite}
          canCrawl={canCrawl}
          onClose={onClose}
          onEdit={onEdit}
        />
      ) : null}
    </Dialog>
  );
}

function Details({
  node,
  connector,
  canWrite,
  canCrawl,
  onClose,
  onEdit,
}: {
  node: DataNode;
  connector: Connector | undefined;
  canWrite: boolean;
  canCrawl: boolean;
  onClose: () => void;
  onEdit: (node: DataNode) => void;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const [result, setResult] = useState<TestResult | null>(null);
  const [deleting, setDeleting] = useState(false);
  const detail = useQuery({
    queryKey: ["connectors", node.type],
    queryFn: ({ signal }) => connectorsApi.get(node.type, signal),
    staleTime: 10 * 60_000,
  });
  const titles = Object.fromEntries(fieldsFromSchema(detail.data?.config_schema).map((f) => [f.key, f.title]));

  const test = useMutation({
    mutationFn: () => nodesApi.test(node.id),
    onSuccess: (r) => {
      setResult(r);
      void qc.invalidateQueries({ queryKey: ["nodes"] });
    },
    onError: (err) => toast.fromError(err, "Could not test the node"),
  });
  const remove = useMutation({
    mutationFn: () => nodesApi.remove(node.id),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["nodes"] });
      toast.success("Node deleted", `${node.name} and its check history are gone.`);
      setDeleting(false);
      onClose();
    },
    onError: (err) => toast.fromError(err, "Could not delete the node"),
  });

  const canTest = connector?.capabilities.test_connection !== false;
  const secretEntries = Object.entries(node.secrets);

  return (
    <div className="stack node-details" style={{ gap: "var(--space-5)" }}>
      <div className="node-status">
        <HealthBadge status={node.status} />
        <div className="node-status__text">
          {node.last_checked_at ? (
            <>
              Checked <Time iso={node.last_checked_at} />
              {node.last_latency_ms != null ? ` · ${Math.round(node.last_latency_ms)} ms` : ""}
              {node.last_message ? <div className="muted">{node.last_message}</div> : null}
            </>
          ) : (
            <span className="muted">Not checked yet.</span>
          )}
        </div>
        <Button
          onClick={() => test.mutate()}
          loading={test.isPending}
          disabled={!canTest}
          title={canTest ? undefined : "This connector type has no live connection test"}
        >
          <PlayIcon /> Test now
        </Button>
      </div>
      {result ? <TestOutcome result={result} /> : null}

      <div className="node-details__grid">
        <section aria-labelledby="node-settings">
          <h3 className="form-section__title" id="node-settings">
            Settings
          </h3>
          <dl className="definition-list">
            {Object.entries(node.config).map(([k, v]) => (
              <div key={k} className="definition-list__row">
                <dt>{titles[k] ?? k}</dt>
                <dd className="mono">{show(v)}</dd>
              </div>
            ))}
            <div className="definition-list__row">
              <dt>Checks</dt>
              <dd>{intervalLabel(node.check_interval_seconds)}</dd>
            </div>
            {node.tags.length ? (
              <div className="definition-list__row">
                <dt>Tags</dt>
                <dd>
                  {node.tags.map((t) => (
                    <span key={t} className="tag">
                      #{t}
                    </span>
                  ))}
                </dd>
              </div>
            ) : null}
          </dl>
        </section>
        <section aria-labelledby="node-secrets">
          <h3 className="form-section__title" id="node-secrets">
            <KeyIcon /> Secret references
          </h3>
          {secretEntries.length ? (
            <dl className="definition-list">
              {secretEntries.map(([k, v]) => (
                <div key={k} className="definition-list__row">
                  <dt>{k}</dt>
                  <dd className="mono">{v}</dd>
                </div>
              ))}
            </dl>
          ) : (
            <p className="subtle">None.</p>
          )}
        </section>
      </div>

      {connector?.capabilities.crawl ? (
        <Crawls nodeId={node.id} canCrawl={canCrawl} interval={node.crawl_interval_minutes ?? null} />
      ) : null}

      <section aria-labelledby="node-history">
        <h3 className="form-section__title" id="node-history">
          Check history
        </h3>
        <CheckHistory nodeId={node.id} />
      </section>

      <div className="form-actions form-actions--split">
        {canWrite ? (
          <Button variant="danger-ghost" onClick={() => setDeleting(true)}>
            <TrashIcon /> Delete
          </Button>
        ) : (
          <span className="subtle">Only admins change nodes.</span>
        )}
        <div className="row">
          <Button onClick={onClose}>Close</Button>
          {canWrite ? (
            <Button variant="primary" onClick={() => onEdit(node)}>
              <EditIcon /> Edit
            </Button>
          ) : null}
        </div>
      </div>
      <ConfirmDialog
        open={deleting}
        title={`Delete ${node.name}?`}
        confirmLabel="Delete node"
        pending={remove.isPending}
        onClose={() => setDeleting(false)}
        onConfirm={() => remove.mutate()}
      >
        Its settings, secret references and check history are removed. Datasets that live on it lose their health
        status.
      </ConfirmDialog>
    </div>
  );
}
