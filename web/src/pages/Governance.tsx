/** Governance: search the tamper-evident audit log, export what matches, verify the hash chain. */
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery } from "@tanstack/react-query";
import { Fragment, useId, useMemo, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { auditApi, type AuditItem } from "../api/audit";
import { authApi, orgsApi } from "../api/endpoints";
import { useMe } from "../api/queries";
import type { Me } from "../api/types";
import {
  ChevronDownIcon,
  ChevronRightIcon,
  DownloadIcon,
  GovernanceIcon,
  SearchIcon,
  ShieldIcon,
} from "../components/icons";
import { useToast } from "../components/toasts";
import {
  Alert,
  Avatar,
  Badge,
  Button,
  EmptyState,
  ErrorAlert,
  PageHeader,
  SelectField,
  TableSkeleton,
  TextField,
  Time,
  type Tone,
} from "../components/ui";
import {
  ACTION_SUGGESTIONS,
  EMPTY_AUDIT_STATE,
  activeAuditFilters,
  auditSearchParams,
  describeChange,
  parseAuditParams,
  toAuditFilters,
  type AuditState,
} from "../lib/auditQuery";
import "./governance/governance.css";

export function canReadAudit(me: Me | null | undefined): boolean {
  return !!me && (me.role === "admin" || me.role === "steward" || me.is_platform_admin);
}

function actionTone(action: string): Tone {
  if (/delete|revoke|disable|deprecate|failed|reuse/.test(action)) return "danger";
  if (/create|publish/.test(action)) return "success";
  if (/visibility|role/.test(action)) return "warning";
  if (action.startsWith("auth.")) return "neutral";
  return "primary";
}

function Filters({
  state,
  onApply,
  orgs,
}: {
  state: AuditState;
  onApply: (next: AuditState) => void;
  orgs: { id: string; name: string }[] | null;
}) {
  const [draft, setDraft] = useState(state);
  const [seen, setSeen] = useState(state);
  if (seen !== state) {
    // The URL changed (back button, a row's filter link): show it.
    setSeen(state);
    setDraft(state);
  }
  const actionsId = useId();
  const set = (key: keyof AuditState) => (e: { target: { value: string } }) =>
    setDraft((d) => ({ ...d, [key]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft);
  };
  const badRange = !!draft.from && !!draft.to && draft.from > draft.to;
  return (
    <form className="audit-filters" onSubmit={submit} aria-label="Audit filters" noValidate>
      <TextField
        label="Actor"
        name="actor"
        placeholder="Email or user id"
        value={draft.actor}
        onChange={set("actor")}
        autoComplete="off"
      />
      <TextField
        label="Action"
        name="action"
        placeholder="dataset.connect or dataset."
        list={actionsId}
        value={draft.action}
        onChange={set("action")}
        autoComplete="off"
        mono
      />
      <datalist id={actionsId}>
        {ACTION_SUGGESTIONS.map((a) => (
          <option key={a} value={a}>
            {a}
          </option>
        ))}
      </datalist>
      <TextField
        label="Target"
        name="target"
        placeholder="dataset:<id> or an id"
        value={draft.target}
        onChange={set("target")}
        autoComplete="off"
        mono
      />
      <TextField
        label="Text"
        name="query"
        placeholder="Names, request ids…"
        value={draft.query}
        onChange={set("query")}
        autoComplete="off"
      />
      <TextField label="From" name="from" type="date" value={draft.from} onChange={set("from")} max={draft.to || undefined} />
      <TextField
        label="To"
        name="to"
        type="date"
        value={draft.to}
        onChange={set("to")}
        min={draft.from || undefined}
        error={badRange ? "Must be on or after From." : undefined}
      />
      {orgs ? (
        <SelectField label="Organization" name="org" value={draft.org} onChange={set("org")}>
          <option value="">All organizations</option>
          {orgs.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </SelectField>
      ) : null}
      <div className="audit-filters__actions">
        <Button type="submit" variant="primary" disabled={badRange}>
          <SearchIcon /> Search
        </Button>
        {activeAuditFilters(state) ? (
          <Button variant="ghost" onClick={() => onApply(EMPTY_AUDIT_STATE)}>
            Clear
          </Button>
        ) : null}
      </div>
    </form>
  );
}

function EntryDetails({ item }: { item: AuditItem }) {
  const changes = Object.entries(item.changes ?? {});
  const details = item.details && Object.keys(item.details).length ? item.details : null;
  return (
    <div className="audit-entry">
      {changes.length ? (
        <div>
          <div className="audit-entry__label">Changes</div>
          <ul className="audit-entry__changes">
            {changes.map(([field, change]) => (
              <li key={field} className="mono">
                {describeChange(field, change)}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {details ? (
        <div>
          <div className="audit-entry__label">Details</div>
          <ul className="audit-entry__changes">
            {Object.entries(details).map(([key, value]) => (
              <li key={key} className="mono">
                {key}: {typeof value === "string" ? value : JSON.stringify(value)}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <dl className="audit-entry__meta">
        <dt>Entry</dt>
        <dd className="mono">#{item.seq}</dd>
        {item.request_id ? (
          <>
            <dt>Request</dt>
            <dd className="mono">{item.request_id}</dd>
          </>
        ) : null}
        {item.client ? (
          <>
            <dt>Client</dt>
            <dd className="mono">{item.client}</dd>
          </>
        ) : null}
        <dt>Hash</dt>
        <dd className="mono audit-entry__hash" title={item.hash}>
          {item.hash}
        </dd>
      </dl>
    </div>
  );
}

function VerifyChain() {
  const verify = useMutation({ mutationFn: () => auditApi.verify() });
  const r = verify.data;
  return (
    <section className="card" aria-labelledby="verify-heading">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="verify-heading">
            Tamper check
          </h2>
          <p className="card__subtitle">Every entry is hash-chained to the one before; recompute the chain to prove nothing was altered.</p>
        </div>
        <Button onClick={() => verify.mutate()} loading={verify.isPending}>
          <ShieldIcon /> Verify the chain
        </Button>
      </div>
      {verify.error || r ? (
        <div className="card__body" data-testid="verify-result">
          {verify.error ? (
            <ErrorAlert error={verify.error} />
          ) : r?.ok ? (
            <Alert tone="success" title="The chain is intact">
              {r.checked.toLocaleString()} entries checked; none was altered, removed or reordered.
            </Alert>
          ) : r ? (
            <Alert tone="danger" title={`Entry #${r.first_bad_seq ?? "?"} does not match the chain`}>
              {r.reason ?? "It was altered, removed or reordered."} {r.checked.toLocaleString()} entries checked.
            </Alert>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

export function Component() {
  const { data: me } = useMe();
  const toast = useToast();
  const [params, setParams] = useSearchParams();
  const state = useMemo(() => parseAuditParams(params), [params]);
  const filters = useMemo(() => toAuditFilters(state), [state]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [exporting, setExporting] = useState<string | null>(null);
  const allowed = canReadAudit(me);
  const platformAdmin = !!me?.is_platform_admin;

  const orgs = useQuery({
    queryKey: ["orgs", "audit-filter"],
    queryFn: () => orgsApi.list(null, 200),
    enabled: platformAdmin,
    staleTime: 5 * 60_000,
  });

  const results = useInfiniteQuery({
    queryKey: ["audit", filters],
    queryFn: ({ pageParam, signal }) => auditApi.search(filters, pageParam, 50, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
    enabled: allowed,
  });

  const apply = (next: AuditState) => {
    setOpen(new Set());
    setParams(auditSearchParams(next));
  };
  const filterBy = (patch: Partial<AuditState>) => apply({ ...state, ...patch });

  const download = async (format: "csv" | "jsonl") => {
    setExporting(format);
    try {
      // Refresh the session first if it expired: the download itself cannot retry.
      await authApi.me();
      const a = document.createElement("a");
      a.href = auditApi.exportUrl(filters, format);
      a.download = `datamesh-audit.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      toast.success("Export started", `Every matching entry, as ${format === "csv" ? "CSV" : "JSON Lines"}.`);
    } catch (err) {
      toast.fromError(err, "Could not export");
    } finally {
      setExporting(null);
    }
  };

  if (me && !allowed) {
    return (
      <>
        <PageHeader eyebrow="Operate" title="Governance" />
        <div className="card">
          <EmptyState icon={<GovernanceIcon />} title="The audit log is for stewards and admins">
            Ask an admin of {me.org.name} if you need to see who changed what.
          </EmptyState>
        </div>
      </>
    );
  }

  const items = results.data?.pages.flatMap((p) => p.items) ?? [];
  const orgName = new Map((orgs.data?.items ?? []).map((o) => [o.id, o.name]));
  const toggle = (id: string) =>
    setOpen((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <>
      <PageHeader
        eyebrow="Operate"
        title="Governance"
        description={
          platformAdmin
            ? "The tamper-evident audit trail of every change, in every organization."
            : `The tamper-evident audit trail of every change in ${me?.org.name ?? "your organization"}.`
        }
        actions={
          <>
            <Button onClick={() => download("csv")} loading={exporting === "csv"}>
              <DownloadIcon /> Export CSV
            </Button>
            <Button variant="ghost" onClick={() => download("jsonl")} loading={exporting === "jsonl"}>
              <DownloadIcon /> JSON Lines
            </Button>
          </>
        }
      />
      <div className="stack">
        <section className="card" aria-label="Search the audit log">
          <div className="card__body">
            <Filters
              state={state}
              onApply={apply}
              orgs={platformAdmin ? (orgs.data?.items ?? []).map((o) => ({ id: o.id, name: o.name })) : null}
            />
          </div>
        </section>

        <section className="card" aria-labelledby="audit-results-heading">
          <div className="card__header">
            <h2 className="card__title" id="audit-results-heading">
              Entries
            </h2>
            <span className="muted" aria-live="polite" data-testid="audit-count">
              {results.data
                ? `${items.length.toLocaleString()}${results.hasNextPage ? "+" : ""} ${items.length === 1 ? "entry" : "entries"}, newest first`
                : "Searching…"}
            </span>
          </div>
          {results.isPending ? (
            <TableSkeleton rows={6} columns={4} label="Loading the audit log" />
          ) : results.isError && !results.data ? (
            <div className="card__body">
              <ErrorAlert error={results.error} onRetry={() => results.refetch()} retrying={results.isFetching} />
            </div>
          ) : items.length === 0 ? (
            <EmptyState icon={<SearchIcon />} title={activeAuditFilters(state) ? "No entry matches these filters" : "Nothing recorded yet"}>
              {activeAuditFilters(state)
                ? "Widen the dates, or use an action family such as dataset. (with the dot)."
                : "Every change made in DataMesh appears here."}
            </EmptyState>
          ) : (
            <>
              {results.isError ? (
                <div className="card__body">
                  <ErrorAlert error={results.error} onRetry={() => results.refetch()} />
                </div>
              ) : null}
              <div className="table-wrap">
                <table className="table audit-table" data-testid="audit-table" style={{ opacity: results.isPlaceholderData ? 0.6 : 1 }}>
                  <thead>
                    <tr>
                      <th scope="col" style={{ width: 36 }}>
                        <span className="sr-only">Details</span>
                      </th>
                      <th scope="col">When</th>
                      <th scope="col">Actor</th>
                      <th scope="col">Action</th>
                      <th scope="col">Target</th>
                      {platformAdmin ? <th scope="col">Organization</th> : null}
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((item) => {
                      const expanded = open.has(item.id);
                      const changed = Object.keys(item.changes ?? {}).length;
                      return (
                        <Fragment key={item.id}>
                          <tr data-testid="audit-row" data-action={item.action}>
                            <td>
                              <Button
                                size="sm"
                                variant="ghost"
                                icon
                                aria-expanded={expanded}
                                aria-label={`${expanded ? "Hide" : "Show"} details of entry ${item.seq}`}
                                onClick={() => toggle(item.id)}
                              >
                                {expanded ? <ChevronDownIcon /> : <ChevronRightIcon />}
                              </Button>
                            </td>
                            <td className="muted" style={{ whiteSpace: "nowrap" }}>
                              <Time iso={item.at} />
                            </td>
                            <td>
                              <div className="identity">
                                <Avatar name={item.actor.name || "?"} seed={item.actor.id ?? item.actor.name} size="sm" />
                                <span className="identity__text">
                                  {item.actor.id ? (
                                    <button
                                      type="button"
                                      className="link-button"
                                      title="Show only this actor"
                                      onClick={() => filterBy({ actor: item.actor.id ?? "" })}
                                    >
                                      {item.actor.name}
                                    </button>
                                  ) : (
                                    <span>{item.actor.name}</span>
                                  )}
                                  <span className="cell-secondary">{item.actor.kind}</span>
                                </span>
                              </div>
                            </td>
                            <td>
                              <Badge tone={actionTone(item.action)}>
                                <span className="mono">{item.action}</span>
                              </Badge>
                              {changed ? (
                                <span className="subtle audit-table__changed">
                                  {changed} {changed === 1 ? "field" : "fields"}
                                </span>
                              ) : null}
                            </td>
                            <td>
                              <span className="identity__text">
                                {item.target.id ? (
                                  <button
                                    type="button"
                                    className="link-button"
                                    title="Show only this target"
                                    onClick={() => filterBy({ target: `${item.target.kind}:${item.target.id}` })}
                                  >
                                    {item.target.name || item.target.id}
                                  </button>
                                ) : (
                                  <span>{item.target.name || "—"}</span>
                                )}
                                <span className="cell-secondary">{item.target.kind.replace(/_/g, " ")}</span>
                              </span>
                            </td>
                            {platformAdmin ? (
                              <td className="muted">{item.org_id ? (orgName.get(item.org_id) ?? "—") : "Platform"}</td>
                            ) : null}
                          </tr>
                          {expanded ? (
                            <tr className="audit-table__details">
                              <td colSpan={platformAdmin ? 6 : 5}>
                                <EntryDetails item={item} />
                              </td>
                            </tr>
                          ) : null}
                        </Fragment>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              <div className="card__footer">
                <span>Showing {items.length.toLocaleString()}</span>
                {results.hasNextPage ? (
                  <Button size="sm" onClick={() => results.fetchNextPage()} loading={results.isFetchingNextPage}>
                    Load more
                  </Button>
                ) : null}
              </div>
            </>
          )}
        </section>

        {platformAdmin ? <VerifyChain /> : null}
      </div>
    </>
  );
}
