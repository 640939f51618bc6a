/** Lineage explorer: pick a dataset (or come with ?node=), see its graph and its impact. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { datasetsApi, lineageApi } from "../api/endpoints";
import { useMe } from "../api/queries";
import { PlatformTile, datasetTitle, platformLabel } from "../components/datasets";
import { ArrowRightIcon, CatalogIcon, LineageIcon } from "../components/icons";
import { DEPTH_OPTIONS, LineageExplorer } from "../components/lineage/LineageExplorer";
import { Badge, EmptyState, ErrorAlert, PageHeader, SearchBox, Skeleton, buttonClass } from "../components/ui";
import { nodeTitle, rootOf } from "../lib/lineage";
import { SaveAsDashboardButton } from "./dashboards/FromLineage";

function depthParam(value: string | null, fallback: number): number {
  const n = Number(value);
  return value !== null && Number.isInteger(n) && DEPTH_OPTIONS.includes(n) ? n : fallback;
}

function Picker() {
  const [text, setText] = useState("");
  const q = text.trim();
  const results = useQuery({
    queryKey: ["datasets", "search", "lineage-picker", q],
    queryFn: ({ signal }) => datasetsApi.search({ query: q || undefined, sort: q ? "relevance" : "updated", limit: 8 }, signal),
    placeholderData: keepPreviousData,
  });
  return (
    <section className="card lineage-picker" aria-labelledby="picker-heading">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="picker-heading">
            Where do you want to start?
          </h2>
          <p className="card__subtitle">Choose a dataset to see where its data comes from and what depends on it.</p>
        </div>
      </div>
      <div className="card__body">
        <SearchBox
          label="Find a dataset"
          placeholder="Find a dataset by name, tag or field"
          value={text}
          onChange={setText}
        />
      </div>
      {results.isPending ? (
        <div className="card__body" style={{ display: "grid", gap: 12 }} aria-hidden="true">
          <Skeleton width="60%" />
          <Skeleton width="50%" />
          <Skeleton width="55%" />
        </div>
      ) : results.isError ? (
        <div className="card__body">
          <ErrorAlert error={results.error} onRetry={() => results.refetch()} />
        </div>
      ) : results.data.items.length === 0 ? (
        <EmptyState icon={<CatalogIcon />} title={q ? `No datasets match “${q}”` : "No datasets yet"}>
          Lineage starts from a dataset in the catalog.
        </EmptyState>
      ) : (
        <ul className="picker-list" aria-label={q ? "Matching datasets" : "Recently updated datasets"}>
          {results.data.items.map((ds) => (
            <li key={ds.id}>
              <Link to={`/lineage?node=${ds.id}`} className="picker-item">
                <PlatformTile platform={ds.platform} size={32} />
                <span className="picker-item__text">
                  <span className="cell-primary">{datasetTitle(ds)}</span>
                  <span className="cell-secondary mono">
                    {ds.namespace}/{ds.name}
                  </span>
                </span>
                <Badge>{platformLabel(ds.platform)}</Badge>
                <ArrowRightIcon className="picker-item__arrow" />
              </Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function Component() {
  const [params, setParams] = useSearchParams();
  const nodeRef = params.get("node")?.trim() ?? "";
  const up = depthParam(params.get("up"), 2);
  const down = depthParam(params.get("down"), 2);

  // Shares the explorer's query (same key): only for the title.
  const head = useQuery({
    queryKey: ["lineage", "graph", nodeRef, "upstream", up],
    queryFn: ({ signal }) => lineageApi.graph({ node: nodeRef, direction: "upstream", depth: up }, signal),
    enabled: !!nodeRef,
  });
  const root = rootOf(head.data);
  const { data: me } = useMe();

  if (!nodeRef) {
    return (
      <>
        <PageHeader
          eyebrow="Discover"
          title="Lineage"
          description="Where data comes from, where it goes, and who is affected when something changes."
        />
        <Picker />
      </>
    );
  }

  return (
    <>
      <PageHeader
        eyebrow="Lineage"
        title={root ? nodeTitle(root) : <Skeleton width={240} height={24} />}
        description={
          root && !root.restricted ? (
            <>
              {root.kind === "process" ? "Process" : "Dataset"}
              {root.namespace ? (
                <>
                  {" "}
                  in <code>{root.namespace}</code>
                </>
              ) : null}
            </>
          ) : undefined
        }
        actions={
          <>
            {root && root.kind === "dataset" && !root.restricted ? (
              <Link className={buttonClass()} to={`/datasets/${root.id}`}>
                <CatalogIcon /> Open dataset
              </Link>
            ) : null}
            {root && !root.restricted && me && me.role !== "viewer" ? (
              <SaveAsDashboardButton startPoint={{ ref: root.id, name: nodeTitle(root) }} up={up} down={down} />
            ) : null}
            <Link className={buttonClass({ variant: "ghost" })} to="/lineage">
              <LineageIcon /> Start elsewhere
            </Link>
          </>
        }
      />
      <LineageExplorer
        nodeRef={nodeRef}
        up={up}
        down={down}
        onDepthChange={(next) =>
          setParams(
            (prev) => {
              const p = new URLSearchParams(prev);
              p.set("up", String(next.up));
              p.set("down", String(next.down));
              return p;
            },
            { replace: true },
          )
        }
        datasetHref={(id) => `/datasets/${id}`}
        height="max(480px, calc(100vh - 330px))"
      />
    </>
  );
}
