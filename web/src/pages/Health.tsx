/** Pipeline health: SLA breaches and failed runs with what they affect downstream, and coverage. */
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { monitoringApi, monitoringKeys, type Breach, type FailedAssertions, type FailedRun } from "../api/monitoring";
import { platformLabel } from "../components/datasets";
import { LiveIndicator } from "../components/feed";
import { CheckCircleIcon, LineageIcon } from "../components/icons";
import { HealthStateBadge, ShareBar } from "../components/monitoring";
import { EmptyState, ErrorAlert, PageHeader, TableSkeleton, Time } from "../components/ui";
import { useHealthRefresh } from "../lib/dashboardLive";
import { assertionLabel } from "../lib/quality";
import "./dashboards/dashboards.css";
import "../components/quality.css";

function impactLink(id: string, count: number) {
  return (
    <Link to={`/lineage?node=${encodeURIComponent(id)}&up=1&down=3`} className="impact-count" title="Open its lineage and impact">
      <LineageIcon />
      {count} downstream {count === 1 ? "dataset" : "datasets"}
    </Link>
  );
}

function Breaches({ items }: { items: Breach[] }) {
  if (!items.length) {
    return (
      <EmptyState icon={<CheckCircleIcon />} title="No SLA is breached">
        Every dataset with a freshness SLA was updated in time.
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table" data-testid="breaches">
        <caption className="sr-only">Datasets late for their SLA</caption>
        <thead>
          <tr>
            <th scope="col">Dataset</th>
            <th scope="col">State</th>
            <th scope="col">Promise</th>
            <th scope="col">Due</th>
            <th scope="col">Late since</th>
            <th scope="col">Impact</th>
          </tr>
        </thead>
        <tbody>
          {items.map((b) => (
            <tr key={b.dataset.id} data-testid="breach-row">
              <td>
                <Link className="cell-primary" to={`/datasets/${b.dataset.id}`}>
                  {b.dataset.name}
                </Link>
                {b.dataset.platform ? <div className="cell-secondary">{platformLabel(b.dataset.platform)}</div> : null}
              </td>
              <td>
                <HealthStateBadge state="breached" />
              </td>
              <td>{b.kind === "daily_by" ? "Daily deadline" : "Maximum age"}</td>
              <td>
                <Time iso={b.due_at} />
              </td>
              <td>
                <Time iso={b.breached_since} />
              </td>
              <td>{impactLink(b.dataset.id, b.impact_count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FailedRuns({ items }: { items: FailedRun[] }) {
  if (!items.length) {
    return (
      <EmptyState icon={<CheckCircleIcon />} title="No failed runs">
        The latest run of every process succeeded or is still running.
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table" data-testid="failed-runs">
        <caption className="sr-only">Processes whose latest run failed</caption>
        <thead>
          <tr>
            <th scope="col">Process</th>
            <th scope="col">State</th>
            <th scope="col">Run</th>
            <th scope="col">Error</th>
            <th scope="col">Failed</th>
            <th scope="col">Impact</th>
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={`${r.process.id}:${r.run_id}`} data-testid="failed-run-row">
              <td>
                <Link className="cell-primary" to={`/processes/${encodeURIComponent(r.process.id)}`}>
                  {r.process.name}
                </Link>
                {r.process.namespace ? <div className="cell-secondary mono">{r.process.namespace}</div> : null}
              </td>
              <td>
                <HealthStateBadge state="failing" />
              </td>
              <td className="mono cell-secondary" title={r.run_id ?? undefined}>
                {!r.run_id ? "—" : r.run_id.length > 13 ? `${r.run_id.slice(0, 13)}…` : r.run_id}
              </td>
              <td className="run-error" data-testid="run-error">
                {r.error_message ? <span title={r.error_message}>{r.error_message}</span> : <span className="subtle">Not reported</span>}
              </td>
              <td>
                <Time iso={r.failed_at} />
              </td>
              <td>{impactLink(r.process.id, r.impact_count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FailedChecks({ items }: { items: FailedAssertions[] }) {
  if (!items.length) {
    return (
      <EmptyState icon={<CheckCircleIcon />} title="No failed checks">
        The latest data quality assertions runs reported on your datasets all passed.
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table" data-testid="failed-checks">
        <caption className="sr-only">Datasets whose latest data quality checks failed</caption>
        <thead>
          <tr>
            <th scope="col">Dataset</th>
            <th scope="col">Failed checks</th>
            <th scope="col">Checked by</th>
            <th scope="col">When</th>
            <th scope="col">Impact</th>
          </tr>
        </thead>
        <tbody>
          {items.map((f) => (
            <tr key={f.dataset.id} data-testid="failed-check-row">
              <td>
                <Link className="cell-primary" to={`/datasets/${f.dataset.id}`}>
                  {f.dataset.name}
                </Link>
                {f.dataset.platform ? <div className="cell-secondary">{platformLabel(f.dataset.platform)}</div> : null}
              </td>
              <td>
                {f.failed.map(assertionLabel).join(", ") || `${f.failed_count} failed`}
              </td>
              <td>
                {f.process ? (
                  <Link to={`/processes/${encodeURIComponent(f.process.id)}`}>{f.process.name}</Link>
                ) : (
                  <span className="subtle">Another organization's job</span>
                )}
              </td>
              <td>
                <Time iso={f.failed_at} />
              </td>
              <td>{impactLink(f.dataset.id, f.impact_count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CoverageCard() {
  const q = useQuery({ queryKey: monitoringKeys.coverage, queryFn: ({ signal }) => monitoringApi.coverage(signal) });
  return (
    <section className="card" aria-labelledby="coverage-heading" data-testid="coverage">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="coverage-heading">
            Coverage
          </h2>
          <p className="card__subtitle">How much of your organization's catalog is mapped, owned and watched.</p>
        </div>
      </div>
      <div className="card__body">
        {q.isPending ? (
          <TableSkeleton rows={3} columns={2} label="Loading coverage" />
        ) : q.isError ? (
          <ErrorAlert error={q.error} onRetry={() => q.refetch()} />
        ) : (
          <div className="coverage">
            <div className="coverage__bars">
              <ShareBar label="Datasets with lineage" share={q.data.lineage_share} count={q.data.with_lineage} total={q.data.datasets} />
              <ShareBar label="Datasets with owners" share={q.data.owners_share} count={q.data.with_owners} total={q.data.datasets} />
              <ShareBar label="Datasets with a freshness SLA" share={q.data.sla_share} count={q.data.with_sla} total={q.data.datasets} />
            </div>
            <dl className="coverage__figures">
              <div>
                <dt>Datasets</dt>
                <dd>{q.data.datasets}</dd>
              </div>
              <div>
                <dt>Dashboards</dt>
                <dd>
                  <Link to="/dashboards">{q.data.dashboards}</Link>
                </dd>
              </div>
              <div>
                <dt>Annotated nodes</dt>
                <dd>{q.data.annotated_nodes}</dd>
              </div>
            </dl>
          </div>
        )}
      </div>
    </section>
  );
}

export function Component() {
  const stream = useHealthRefresh();
  const overview = useQuery({
    queryKey: monitoringKeys.overview,
    queryFn: ({ signal }) => monitoringApi.overview(signal),
    refetchInterval: 60_000,
  });

  return (
    <>
      <PageHeader
        eyebrow="Operate"
        title="Pipeline health"
        description="What is failing or late right now, and how much depends on it."
        actions={<LiveIndicator state={stream} />}
      />
      <div className="stack">
        {overview.isError ? <ErrorAlert error={overview.error} onRetry={() => overview.refetch()} retrying={overview.isFetching} /> : null}
        <div className="health-grid">
          <section className="card" aria-labelledby="runs-heading">
            <div className="card__header">
              <div>
                <h2 className="card__title" id="runs-heading">
                  Failed runs {overview.data ? <span className="subtle">({overview.data.failed_runs.length})</span> : null}
                </h2>
                <p className="card__subtitle">Processes whose latest run failed, from OpenLineage FAIL events.</p>
              </div>
            </div>
            {overview.isPending ? <TableSkeleton rows={3} columns={4} label="Loading failed runs" /> : overview.data ? <FailedRuns items={overview.data.failed_runs} /> : null}
          </section>
          <section className="card" aria-labelledby="breaches-heading">
            <div className="card__header">
              <div>
                <h2 className="card__title" id="breaches-heading">
                  SLA breaches {overview.data ? <span className="subtle">({overview.data.breaches.length})</span> : null}
                </h2>
                <p className="card__subtitle">Datasets not updated within their freshness SLA (a daily deadline or a maximum age).</p>
              </div>
            </div>
            {overview.isPending ? <TableSkeleton rows={3} columns={4} label="Loading breaches" /> : overview.data ? <Breaches items={overview.data.breaches} /> : null}
          </section>
        </div>
        <section className="card" aria-labelledby="checks-heading">
          <div className="card__header">
            <div>
              <h2 className="card__title" id="checks-heading">
                Failed data quality checks{" "}
                {overview.data ? <span className="subtle">({overview.data.failed_assertions?.length ?? 0})</span> : null}
              </h2>
              <p className="card__subtitle">Datasets whose latest run reported failing assertions (OpenLineage dataQualityAssertions).</p>
            </div>
          </div>
          {overview.isPending ? (
            <TableSkeleton rows={2} columns={4} label="Loading failed checks" />
          ) : overview.data ? (
            <FailedChecks items={overview.data.failed_assertions ?? []} />
          ) : null}
        </section>
        <CoverageCard />
        {overview.data ? (
          <p className="subtle health-generated">
            As of <Time iso={overview.data.generated_at} />
          </p>
        ) : null}
      </div>
    </>
  );
}
