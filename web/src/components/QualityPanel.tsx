/**
 * A dataset's data quality as its runs reported it (OpenLineage dataQualityMetrics,
 * dataQualityAssertions and outputStatistics): the latest row count and size, the row count
 * trend, and the checks that failed.
 */
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { lineageApi } from "../api/endpoints";
import type { QualityRecord } from "../api/types";
import {
  assertionLabel,
  failedAssertions,
  formatBytes,
  formatCount,
  rowCountTrend,
  sparklinePoints,
  trendChange,
  type TrendPoint,
} from "../lib/quality";
import { CheckCircleIcon, XCircleIcon } from "./icons";
import { Badge, ErrorAlert, Skeleton, Time } from "./ui";
import "./quality.css";

export const qualityKey = (datasetId: string) => ["lineage", "quality", datasetId] as const;

function Sparkline({ points }: { points: TrendPoint[] }) {
  const width = 220;
  const height = 44;
  const line = sparklinePoints(points, width, height, 4);
  const [lastX, lastY] = (line.split(" ").pop() ?? "0,0").split(",").map(Number);
  const first = points[0]?.value ?? 0;
  const last = points[points.length - 1]?.value ?? 0;
  return (
    <figure className="quality-trend" data-testid="row-count-trend">
      <svg
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Row count over the last ${points.length} runs: from ${formatCount(first)} to ${formatCount(last)}`}
      >
        <polyline points={line} fill="none" stroke="currentColor" strokeWidth="2" strokeLinejoin="round" />
        <circle cx={lastX} cy={lastY} r="3" fill="currentColor" />
      </svg>
      <figcaption className="cell-secondary">
        Row count, last {points.length} {points.length === 1 ? "run" : "runs"}
      </figcaption>
    </figure>
  );
}

function Latest({ latest }: { latest: QualityRecord }) {
  const failed = failedAssertions(latest);
  const passed = latest.assertions.length - failed.length;
  return (
    <>
      <dl className="definition-list quality-figures">
        <dt>Rows</dt>
        <dd data-testid="quality-rows">{formatCount(latest.row_count)}</dd>
        <dt>Size</dt>
        <dd>{formatBytes(latest.bytes)}</dd>
        {latest.file_count !== null && latest.file_count !== undefined ? (
          <>
            <dt>Files</dt>
            <dd>{formatCount(latest.file_count)}</dd>
          </>
        ) : null}
        <dt>Reported</dt>
        <dd>
          <Time iso={latest.event_time} />
          {latest.process_id && latest.process_name ? (
            <>
              {" by "}
              <Link to={`/processes/${encodeURIComponent(latest.process_id)}`}>{latest.process_name}</Link>
            </>
          ) : null}
        </dd>
        {latest.dataset_version ? (
          <>
            <dt>Version</dt>
            <dd className="mono">{latest.dataset_version}</dd>
          </>
        ) : null}
      </dl>
      {latest.assertions.length ? (
        <div className="quality-checks" data-testid="quality-checks">
          {failed.length ? (
            <>
              <Badge tone="danger" icon={<XCircleIcon />}>
                {failed.length} {failed.length === 1 ? "check failed" : "checks failed"}
              </Badge>
              <ul className="quality-failed" data-testid="failed-assertions">
                {failed.map((a, i) => (
                  <li key={`${a.assertion}:${a.column ?? ""}:${i}`}>
                    <XCircleIcon /> <span>{assertionLabel(a)}</span>
                    {a.expected || a.actual ? (
                      <span className="cell-secondary">
                        {" "}
                        (expected {a.expected ?? "?"}, got {a.actual ?? "?"})
                      </span>
                    ) : null}
                  </li>
                ))}
              </ul>
              {passed ? <p className="cell-secondary">{passed} other {passed === 1 ? "check" : "checks"} passed.</p> : null}
            </>
          ) : (
            <Badge tone="success" icon={<CheckCircleIcon />}>
              All {latest.assertions.length} checks passed
            </Badge>
          )}
        </div>
      ) : null}
    </>
  );
}

export function QualityPanel({ datasetId }: { datasetId: string }) {
  const q = useQuery({ queryKey: qualityKey(datasetId), queryFn: ({ signal }) => lineageApi.quality(datasetId, signal) });
  if (q.isSuccess && !q.data.latest) return null; // nothing reported: no empty card
  const trend = q.data ? rowCountTrend(q.data.history) : [];
  const change = trendChange(trend);
  return (
    <section className="card" aria-labelledby="quality-heading" data-testid="quality">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="quality-heading">
            Data quality
          </h2>
          <p className="card__subtitle">As its pipeline runs reported it.</p>
        </div>
      </div>
      <div className="card__body stack" style={{ gap: "var(--space-3)" }}>
        {q.isPending ? (
          <Skeleton height={60} />
        ) : q.isError ? (
          <ErrorAlert error={q.error} onRetry={() => q.refetch()} />
        ) : q.data.latest ? (
          <>
            <Latest latest={q.data.latest} />
            {trend.length > 1 ? (
              <div>
                <Sparkline points={trend} />
                {change ? <p className="cell-secondary quality-change">{change}</p> : null}
              </div>
            ) : null}
          </>
        ) : null}
      </div>
    </section>
  );
}
