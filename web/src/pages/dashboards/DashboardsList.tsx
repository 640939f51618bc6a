/** Dashboards: saved canvases of business-critical flows. Search, create, duplicate, delete. */
import { keepPreviousData, useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { dashboardsApi, type DashboardSummary } from "../../api/dashboards";
import { useMe } from "../../api/queries";
import type { Me, Visibility } from "../../api/types";
import { DatasetVisibilityBadge, VisibilityOptions } from "../../components/datasets";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { CopyIcon, LineageIcon, PlusIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import { Button, EmptyState, PageHeader, QueryList, SearchBox, SelectField, TableSkeleton, TextAreaField, TextField, Time } from "../../components/ui";
import { FromLineageDialog } from "./FromLineage";
import "./dashboards.css";

const CREATORS = ["admin", "steward", "producer"];

function canCreate(me: Me | null | undefined): boolean {
  return !!me && CREATORS.includes(me.role);
}

/** The API decides; this only hides a button that would be refused. */
function mayDelete(me: Me | null | undefined, d: DashboardSummary): boolean {
  if (!me) return false;
  return d.created_by?.id === me.id || me.role === "admin" || me.role === "steward";
}

function CreateDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("internal");
  const create = useMutation({
    mutationFn: () => dashboardsApi.create({ title: title.trim(), description, visibility }),
    onSuccess: (res) => {
      void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
      onClose();
      navigate(`/dashboards/${res.data.id}`);
    },
    onError: (err) => toast.fromError(err, "Could not create the dashboard"),
  });
  return (
    <Dialog open={open} onClose={onClose} title="New dashboard" description="An empty canvas: drag datasets, processes and notes onto it.">
      {open ? (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <TextField label="Title" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="e.g. Daily revenue flow" />
          <TextAreaField label="Description" optional rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
          <SelectField label="Visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)} hint="Public: everyone signed in. Internal: your organization. Private: you, admins and stewards.">
            <VisibilityOptions />
          </SelectField>
          <div className="form-actions">
            <Button onClick={onClose}>Cancel</Button>
            <Button type="submit" variant="primary" loading={create.isPending} disabled={!title.trim()}>
              Create
            </Button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}

export function Component() {
  const { data: me } = useMe();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const [params, setParams] = useSearchParams();
  const urlQ = params.get("q") ?? "";
  const [text, setText] = useState(urlQ);
  const [creating, setCreating] = useState(false);
  const [fromLineage, setFromLineage] = useState(false);
  const [deleting, setDeleting] = useState<DashboardSummary | null>(null);

  // Search as you type (debounced into the URL, so a search can be shared).
  useEffect(() => {
    const t = window.setTimeout(() => {
      const q = text.trim();
      if (q === urlQ) return;
      setParams(
        (prev) => {
          const p = new URLSearchParams(prev);
          if (q) p.set("q", q);
          else p.delete("q");
          return p;
        },
        { replace: true },
      );
    }, 250);
    return () => window.clearTimeout(t);
  }, [text, urlQ, setParams]);

  const list = useInfiniteQuery({
    queryKey: ["dashboards", "list", urlQ],
    queryFn: ({ signal, pageParam }) => dashboardsApi.list({ q: urlQ || undefined, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
    placeholderData: keepPreviousData,
  });

  const duplicate = useMutation({
    mutationFn: (d: DashboardSummary) => dashboardsApi.duplicate(d.id),
    onSuccess: (res) => {
      void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
      toast.success("Copy made", `“${res.data.title}”.`);
      navigate(`/dashboards/${res.data.id}`);
    },
    onError: (err) => toast.fromError(err, "Could not duplicate the dashboard"),
  });
  const remove = useMutation({
    mutationFn: (d: DashboardSummary) => dashboardsApi.remove(d.id),
    onSuccess: (_r, d) => {
      void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
      toast.success("Dashboard deleted", `“${d.title}” is gone.`);
      setDeleting(null);
    },
    onError: (err) => toast.fromError(err, "Could not delete the dashboard"),
  });

  const creator = canCreate(me);
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <PageHeader
        eyebrow="Discover"
        title="Dashboards"
        description="Saved maps of the flows that matter, annotated with owners and SLAs, lit up with live health."
        actions={
          creator ? (
            <>
              <Button onClick={() => setFromLineage(true)}>
                <LineageIcon /> From lineage
              </Button>
              <Button variant="primary" onClick={() => setCreating(true)}>
                <PlusIcon /> New dashboard
              </Button>
            </>
          ) : undefined
        }
      />
      <section className="card">
        <div className="card__body">
          <SearchBox
            label="Search dashboards"
            placeholder="Search dashboards by title or description"
            value={text}
            onChange={setText}
          />
        </div>
        <QueryList
          query={list}
          loading={<TableSkeleton rows={4} columns={5} label="Loading dashboards" />}
          isEmpty={!items.length}
          empty={
            <EmptyState
              icon={<LineageIcon />}
              title={urlQ ? `No dashboard matches “${urlQ}”` : "No dashboards yet"}
              actions={
                creator && !urlQ ? (
                  <Button variant="primary" onClick={() => setCreating(true)}>
                    <PlusIcon /> New dashboard
                  </Button>
                ) : undefined
              }
            >
              {urlQ ? "Try other words." : "Map a business-critical flow: its datasets, jobs, owners and SLAs, on one canvas."}
            </EmptyState>
          }
        >
          <div className="table-wrap">
            <table className="table" data-testid="dashboards-table">
              <caption className="sr-only">Dashboards</caption>
              <thead>
                <tr>
                  <th scope="col">Dashboard</th>
                  <th scope="col">Visibility</th>
                  <th scope="col" className="num">
                    Nodes
                  </th>
                  <th scope="col">Created by</th>
                  <th scope="col">Updated</th>
                  <th scope="col" className="actions">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id} data-testid="dashboard-row">
                    <td>
                      <Link className="cell-primary" to={`/dashboards/${d.id}`}>
                        {d.title}
                      </Link>
                      {d.description ? <div className="cell-secondary dlist__desc">{d.description}</div> : null}
                    </td>
                    <td>
                      <DatasetVisibilityBadge visibility={d.visibility} />
                    </td>
                    <td className="num">{d.node_count}</td>
                    <td>{d.created_by?.name ?? "—"}</td>
                    <td>
                      <Time iso={d.updated_at} />
                    </td>
                    <td className="actions">
                      {creator ? (
                        <Button size="sm" variant="ghost" icon aria-label={`Duplicate ${d.title}`} title="Duplicate" onClick={() => duplicate.mutate(d)}>
                          <CopyIcon />
                        </Button>
                      ) : null}
                      {mayDelete(me, d) ? (
                        <Button size="sm" variant="danger-ghost" icon aria-label={`Delete ${d.title}`} title="Delete" onClick={() => setDeleting(d)}>
                          <TrashIcon />
                        </Button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {list.hasNextPage ? (
              <div className="card__body">
                <Button loading={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
                  Show more
                </Button>
              </div>
            ) : null}
          </div>
        </QueryList>
      </section>
      <CreateDialog open={creating} onClose={() => setCreating(false)} />
      <FromLineageDialog open={fromLineage} onClose={() => setFromLineage(false)} />
      <ConfirmDialog
        open={!!deleting}
        title={`Delete “${deleting?.title ?? ""}”?`}
        confirmLabel="Delete"
        pending={remove.isPending}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
      >
        The canvas and its annotations are removed for everyone. The datasets and processes it shows are not touched.
      </ConfirmDialog>
    </>
  );
}
