/** Catalog: search as you type, facet filters with counts, sort, pagination. State in the URL. */
import { keepPreviousData, useInfiniteQuery } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { datasetsApi } from "../api/endpoints";
import { useMe } from "../api/queries";
import type { DatasetSort, DatasetSummary, FacetCount } from "../api/types";
import {
  DatasetVisibilityBadge,
  PlatformBadge,
  PlatformTile,
  StatusBadge,
  datasetTitle,
  platformLabel,
} from "../components/datasets";
import { CatalogIcon, ChevronDownIcon, CloseIcon, PlusIcon, SearchIcon } from "../components/icons";
import { Badge, Button, EmptyState, ErrorAlert, PageHeader, SearchBox, Skeleton, Time } from "../components/ui";
import {
  activeFilterCount,
  parseCatalogParams,
  toApiSearch,
  toSearchParams,
  toggleValue,
  type CatalogState,
  type FacetKey,
} from "../lib/catalogQuery";
import { useDebouncedUrlText } from "../lib/useDebouncedUrlText";
import { PublishDatasetDialog } from "./catalog/PublishDataset";
import { MarkdownSnippet } from "../components/Markdown";

const VISIBILITY_OPTIONS: FacetCount[] = [
  { value: "public", label: "Public", count: -1 },
  { value: "internal", label: "Internal", count: -1 },
  { value: "private", label: "Private", count: -1 },
];

function FacetGroup({
  title,
  options,
  selected,
  onToggle,
  format = (o) => o.label || o.value,
}: {
  title: string;
  options: FacetCount[];
  selected: string[];
  onToggle: (value: string) => void;
  format?: (o: FacetCount) => string;
}) {
  const [expanded, setExpanded] = useState(false);
  const id = useId();
  // Keep selected values visible even when the current result has none of them.
  const merged = [...options];
  for (const v of selected) if (!merged.some((o) => o.value === v)) merged.push({ value: v, label: v, count: 0 });
  if (merged.length === 0) return null;
  const shown = expanded ? merged : merged.slice(0, 6);
  return (
    <fieldset className="facet">
      <legend className="facet__title">{title}</legend>
      <ul className="facet__list" id={id}>
        {shown.map((o) => {
          const checked = selected.includes(o.value);
          return (
            <li key={o.value}>
              <label className="facet__option">
                <input type="checkbox" checked={checked} onChange={() => onToggle(o.value)} />
                <span className="facet__label">{format(o)}</span>
                {o.count >= 0 ? (
                  <span className="facet__count" aria-label={`${o.count} datasets`}>
                    {o.count}
                  </span>
                ) : null}
              </label>
            </li>
          );
        })}
      </ul>
      {merged.length > 6 ? (
        <button
          type="button"
          className="link-button"
          aria-expanded={expanded}
          aria-controls={id}
          onClick={() => setExpanded((e) => !e)}
        >
          {expanded ? "Show fewer" : `Show all ${merged.length}`}
        </button>
      ) : null}
    </fieldset>
  );
}

function ResultCard({ ds, showOrg }: { ds: DatasetSummary; showOrg: boolean }) {
  const extraTags = ds.tags.length - 4;
  return (
    <li className="result" data-testid="dataset-result">
      <PlatformTile platform={ds.platform} />
      <div className="result__main">
        <div className="result__head">
          <Link to={`/datasets/${ds.id}`} className="result__title">
            {datasetTitle(ds)}
          </Link>
          <StatusBadge ds={ds} />
        </div>
        <div className="result__qualified mono" title={`${ds.namespace}/${ds.name}`}>
          {ds.name} <span className="subtle">· {ds.namespace}</span>
        </div>
        {ds.description ? <MarkdownSnippet className="result__desc" text={ds.description} /> : null}
        <div className="result__meta">
          <PlatformBadge platform={ds.platform} />
          <DatasetVisibilityBadge visibility={ds.visibility} />
          {ds.domain ? <Badge tone="primary">{ds.domain}</Badge> : null}
          {ds.tags.slice(0, 4).map((t) => (
            <span key={t} className={t === "pii" ? "tag tag--pii" : "tag"}>
              #{t}
            </span>
          ))}
          {extraTags > 0 ? <span className="subtle">+{extraTags} more</span> : null}
        </div>
      </div>
      <div className="result__side">
        {showOrg ? <span className="muted">{ds.org.name}</span> : null}
        <span className="subtle">
          Updated <Time iso={ds.updated_at} />
        </span>
      </div>
    </li>
  );
}

function ResultsSkeleton() {
  return (
    <ul className="results" aria-hidden="true">
      {[0, 1, 2, 3].map((i) => (
        <li key={i} className="result">
          <span className="skeleton" style={{ width: 40, height: 40, borderRadius: 10 }} />
          <div className="result__main" style={{ display: "grid", gap: 8 }}>
            <Skeleton width={`${30 + i * 7}%`} height={14} />
            <Skeleton width="45%" height={10} />
            <Skeleton width="85%" height={10} />
            <div className="row">
              <Skeleton width={72} height={20} />
              <Skeleton width={64} height={20} />
            </div>
          </div>
        </li>
      ))}
    </ul>
  );
}

export function Component() {
  const [params, setParams] = useSearchParams();
  const state = useMemo(() => parseCatalogParams(params), [params]);
  const { data: me } = useMe();
  const canPublish = !!me && (me.role === "admin" || me.role === "producer");
  const canSeeDeprecated = !!me && (me.role === "admin" || me.role === "steward");
  const [publishing, setPublishing] = useState(false);
  const [filtersOpen, setFiltersOpen] = useState(false);
  const sortId = useId();

  // The text box is local so typing stays instant; the URL (and so the query) follows, debounced,
  // replacing the history entry instead of adding one per keystroke, on top of the newest URL.
  const search = useDebouncedUrlText("q", (latest, q) => toSearchParams({ ...parseCatalogParams(latest), q }));
  const text = search.text;

  const update = (next: Partial<CatalogState>) => {
    const q = search.take(next.q);
    setParams(toSearchParams({ ...state, ...next, q }));
  };
  const apiSearch = toApiSearch(state);

  const results = useInfiniteQuery({
    queryKey: ["datasets", "search", apiSearch],
    queryFn: ({ pageParam, signal }) => datasetsApi.search({ ...apiSearch, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
  });

  const first = results.data?.pages[0];
  const items = results.data?.pages.flatMap((p) => p.items) ?? [];
  const total = first?.total ?? 0;
  const facets = first?.facets;
  const filters = activeFilterCount(state);
  const orgCount = facets?.org.length ?? 0;
  const toggle = (key: FacetKey, value: string) => update({ [key]: toggleValue(state[key], value) });

  return (
    <>
      <PageHeader
        eyebrow="Discover"
        title="Catalog"
        description="Every dataset you can see, searchable by name, tag, field and description."
        actions={
          canPublish ? (
            <Button variant="primary" onClick={() => setPublishing(true)}>
              <PlusIcon /> Publish dataset
            </Button>
          ) : null
        }
      />
      <div className="catalog">
        <aside className="catalog__filters" aria-label="Filters">
          <div className="catalog__filters-head">
            <h2 className="facet__heading">
              <button
                type="button"
                className="filters-toggle"
                aria-expanded={filtersOpen}
                aria-controls="catalog-facets"
                onClick={() => setFiltersOpen((o) => !o)}
              >
                Filters{filters ? ` (${filters})` : ""}
                <ChevronDownIcon />
              </button>
              <span className="filters-title">Filters</span>
            </h2>
            {filters > 0 ? (
              <button
                type="button"
                className="link-button"
                onClick={() =>
                  update({ platform: [], domain: [], tag: [], org: [], visibility: [], deprecated: false })
                }
              >
                Clear all
              </button>
            ) : null}
          </div>
          <div id="catalog-facets" className="catalog__facets" data-open={filtersOpen}>
          {facets ? (
            <>
              <FacetGroup
                title="Platform"
                options={facets.platform}
                selected={state.platform}
                onToggle={(v) => toggle("platform", v)}
                format={(o) => platformLabel(o.value)}
              />
              <FacetGroup
                title="Domain"
                options={facets.domain}
                selected={state.domain}
                onToggle={(v) => toggle("domain", v)}
              />
              <FacetGroup title="Tag" options={facets.tag} selected={state.tag} onToggle={(v) => toggle("tag", v)} />
              {orgCount > 1 || state.org.length ? (
                <FacetGroup
                  title="Organization"
                  options={facets.org}
                  selected={state.org}
                  onToggle={(v) => toggle("org", v)}
                />
              ) : null}
              <FacetGroup
                title="Visibility"
                options={VISIBILITY_OPTIONS}
                selected={state.visibility}
                onToggle={(v) => toggle("visibility", v)}
              />
              {canSeeDeprecated ? (
                <fieldset className="facet">
                  <legend className="facet__title">Status</legend>
                  <label className="facet__option">
                    <input
                      type="checkbox"
                      checked={state.deprecated}
                      onChange={(e) => update({ deprecated: e.target.checked })}
                    />
                    <span className="facet__label">Include deprecated</span>
                  </label>
                </fieldset>
              ) : null}
            </>
          ) : (
            <div style={{ display: "grid", gap: 10 }} aria-hidden="true">
              {[60, 80, 50, 70, 40].map((w, i) => (
                <Skeleton key={i} width={`${w}%`} />
              ))}
            </div>
          )}
          </div>
        </aside>

        <section className="catalog__results" aria-labelledby="results-heading">
          <div className="catalog__bar">
            <SearchBox
              label="Search the catalog"
              placeholder="Search by name, tag, field or description"
              value={text}
              onChange={search.onType}
            >
              {results.isFetching && !results.isFetchingNextPage ? (
                <span className="spinner catalog__spinner" aria-hidden="true" />
              ) : null}
            </SearchBox>
            <label htmlFor={sortId} className="sr-only">
              Sort by
            </label>
            <select
              id={sortId}
              className="select catalog__sort"
              value={state.sort}
              onChange={(e) => update({ sort: e.target.value as DatasetSort })}
            >
              <option value="relevance">{state.q ? "Best match" : "Recently updated"}</option>
              <option value="updated">Recently updated</option>
              <option value="name">Name (A–Z)</option>
            </select>
          </div>

          <div className="catalog__summary">
            <h2 id="results-heading" className="sr-only">
              Results
            </h2>
            <span aria-live="polite" data-testid="result-count">
              {first
                ? `${total.toLocaleString()} ${total === 1 ? "dataset" : "datasets"}${state.q ? ` for “${state.q}”` : ""}`
                : "Searching…"}
            </span>
            <FilterChips state={state} update={update} />
          </div>

          {results.isPending ? (
            <div className="card">
              <ResultsSkeleton />
            </div>
          ) : results.isError && !results.data ? (
            <ErrorAlert error={results.error} onRetry={() => results.refetch()} retrying={results.isFetching} />
          ) : items.length === 0 ? (
            <div className="card">
              {state.q || filters ? (
                <EmptyState
                  icon={<SearchIcon />}
                  title={state.q ? `No datasets match “${state.q}”` : "No datasets match these filters"}
                  actions={
                    <Button
                      onClick={() => {
                        update({ q: "", platform: [], domain: [], tag: [], org: [], visibility: [], deprecated: false });
                      }}
                    >
                      Clear search and filters
                    </Button>
                  }
                >
                  Check the spelling, use fewer words, or remove a filter. Quotes match an exact phrase; a
                  leading minus excludes a word.
                </EmptyState>
              ) : (
                <EmptyState
                  icon={<CatalogIcon />}
                  title="The catalog is empty"
                  actions={
                    canPublish ? (
                      <Button variant="primary" onClick={() => setPublishing(true)}>
                        <PlusIcon /> Publish the first dataset
                      </Button>
                    ) : null
                  }
                >
                  Datasets appear here when producers publish them or when lineage arrives from your
                  pipelines.
                </EmptyState>
              )}
            </div>
          ) : (
            <div className="card" aria-busy={results.isFetching}>
              {results.isError ? (
                <div className="card__body">
                  <ErrorAlert error={results.error} onRetry={() => results.refetch()} />
                </div>
              ) : null}
              <ul className="results" style={{ opacity: results.isPlaceholderData ? 0.6 : 1 }}>
                {items.map((ds) => (
                  <ResultCard key={ds.id} ds={ds} showOrg={orgCount > 1} />
                ))}
              </ul>
              <div className="card__footer">
                <span>
                  Showing {items.length.toLocaleString()} of {total.toLocaleString()}
                </span>
                {results.hasNextPage ? (
                  <Button size="sm" onClick={() => results.fetchNextPage()} loading={results.isFetchingNextPage}>
                    Load more
                  </Button>
                ) : null}
              </div>
            </div>
          )}
        </section>
      </div>
      <PublishDatasetDialog open={publishing} onClose={() => setPublishing(false)} />
    </>
  );
}

/** Removable chips for the active filters (keyboard reachable, each says what it removes). */
function FilterChips({
  state,
  update,
}: {
  state: CatalogState;
  update: (next: Partial<CatalogState>) => void;
}) {
  const chips: { key: FacetKey; value: string; label: string }[] = [];
  for (const v of state.platform) chips.push({ key: "platform", value: v, label: platformLabel(v) });
  for (const v of state.domain) chips.push({ key: "domain", value: v, label: v });
  for (const v of state.tag) chips.push({ key: "tag", value: v, label: `#${v}` });
  for (const v of state.visibility) chips.push({ key: "visibility", value: v, label: v });
  for (const v of state.org) chips.push({ key: "org", value: v, label: "Organization" });
  if (!chips.length) return null;
  return (
    <ul className="chips" aria-label="Active filters">
      {chips.map((c) => (
        <li key={`${c.key}:${c.value}`}>
          <button
            type="button"
            className="chip"
            aria-label={`Remove filter ${c.key}: ${c.label}`}
            onClick={() => update({ [c.key]: state[c.key].filter((x) => x !== c.value) })}
          >
            {c.label}
            <CloseIcon />
          </button>
        </li>
      ))}
    </ul>
  );
}
