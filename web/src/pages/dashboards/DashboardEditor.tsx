/**
 * One dashboard: the canvas editor. The document (layout) lives here with its undo history;
 * saving sends it with If-Match, and a 412 says someone else saved in between.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { dashboardKeys, dashboardsApi, etagOf, type Dashboard, type DashboardUpdate } from "../../api/dashboards";
import type { WithEtag } from "../../api/client";
import { isApiError } from "../../api/errors";
import { useMe } from "../../api/queries";
import type { Visibility } from "../../api/types";
import { DatasetVisibilityBadge, VisibilityOptions } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { LiveIndicator } from "../../components/feed";
import {
  ChevronRightIcon,
  CopyIcon,
  EditIcon,
  FocusIcon,
  LineageIcon,
  LinkIcon,
  PlusIcon,
  RefreshIcon,
  SearchIcon,
} from "../../components/icons";
import { useToast } from "../../components/toasts";
import {
  Alert,
  Button,
  EmptyState,
  ErrorAlert,
  SelectField,
  Skeleton,
  TextAreaField,
  TextField,
  Time,
  buttonClass,
  copyText,
} from "../../components/ui";
import { CanvasSkeleton } from "../../components/lineage/LineageExplorer";
import { NODE_WIDTH } from "../../components/lineage/layout";
import { canRedo, canUndo, commit, createHistory, historyKey, preview, redo, undo } from "../../lib/dashboardHistory";
import {
  GROUP_SIZE,
  NOTE_SIZE,
  addGroup,
  addNode,
  canonicalLayout,
  newId,
  refsOf,
  reparent,
  sameContent,
  snapPoint,
  validateLayout,
  type DashboardLayout,
  type EntityInfo,
  type LayoutNode,
  type XY,
} from "../../lib/dashboardLayout";
import { useLiveStatus } from "../../lib/dashboardLive";
import type { CanvasApi, DragItem } from "./Canvas";
import { Inspector } from "./Inspector";
import { SearchPanel } from "./SearchPanel";
import "./dashboards.css";

const Canvas = lazy(() => import("./Canvas"));

const CANVAS_HEIGHT = "max(460px, calc(100vh - 250px))";
const UNDO_ICON = (
  <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
    <path d="M9 14 4 9l5-5" />
    <path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11" />
  </svg>
);
const REDO_ICON = (
  <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
    <path d="m15 14 5-5-5-5" />
    <path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13" />
  </svg>
);

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function DetailsForm({
  dashboard,
  pending,
  onSave,
  onCancel,
}: {
  dashboard: Pick<Dashboard, "title" | "description" | "visibility">;
  pending: boolean;
  onSave: (body: DashboardUpdate) => void;
  onCancel: () => void;
}) {
  const [title, setTitle] = useState(dashboard.title);
  const [description, setDescription] = useState(dashboard.description);
  const [visibility, setVisibility] = useState<Visibility>(dashboard.visibility);
  return (
    <form
      className="form"
      onSubmit={(e) => {
        e.preventDefault();
        onSave({ title: title.trim(), description, visibility });
      }}
    >
      <TextField label="Title" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
      <TextAreaField label="Description" optional rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      <SelectField label="Visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)} hint="Public: everyone signed in. Internal: your organization. Private: you, admins and stewards.">
        <VisibilityOptions />
      </SelectField>
      <div className="form-actions">
        <Button onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="primary" loading={pending} disabled={!title.trim()}>
          Save details
        </Button>
      </div>
    </form>
  );
}

function Editor({ initial, onReload }: { initial: WithEtag<Dashboard>; onReload: () => void }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const { data: me } = useMe();
  const start = useMemo(() => canonicalLayout(initial.data.layout), [initial]);
  const [history, setHistory] = useState(() => createHistory(start));
  const [saved, setSaved] = useState(start);
  const [etag, setEtag] = useState(initial.etag ?? etagOf(initial.data.version));
  const [meta, setMeta] = useState(initial.data);
  const [entities, setEntities] = useState<Record<string, EntityInfo>>(initial.data.entities ?? {});
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const [panel, setPanel] = useState<"add" | "details">(meta.can_edit && !start.nodes.length ? "add" : "details");
  const [conflict, setConflict] = useState(false);
  const [editingDetails, setEditingDetails] = useState(false);
  const [arranging, setArranging] = useState(false);
  const canvas = useRef<CanvasApi | null>(null);
  const editable = meta.can_edit;
  const layout = history.present;
  const dirty = editable && !sameContent(layout, saved);
  // One made from lineage opens fitted (it was never looked at); a saved one where it was left.
  const location = useLocation();
  const [fitOnOpen] = useState(() => !!(location.state as { fit?: boolean } | null)?.fit && start.nodes.length > 0);
  useEffect(() => {
    if (fitOnOpen) navigate(location.pathname, { replace: true, state: null });
  }, [fitOnOpen, navigate, location.pathname]);

  const refsKey = refsOf(layout).sort().join(",");
  const refs = useMemo(() => (refsKey ? refsKey.split(",") : []), [refsKey]);
  const { statuses, stream } = useLiveStatus(refs);

  const onCommit = useCallback((next: DashboardLayout, from?: DashboardLayout) => setHistory((h) => commit(h, next, from)), []);
  const onPreview = useCallback((next: DashboardLayout) => setHistory((h) => preview(h, next)), []);
  const onSelect = useCallback((ids: Set<string>) => {
    setSelected(ids);
    if (ids.size) setPanel("details");
  }, []);

  const applyResult = (res: WithEtag<Dashboard>) => {
    setEtag(res.etag ?? etagOf(res.data.version));
    setMeta(res.data);
    setEntities((e) => ({ ...e, ...res.data.entities }));
    qc.setQueryData(dashboardKeys.one(res.data.id), res);
    void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
  };
  const onError = (err: unknown, what: string) => {
    if (isApiError(err) && err.status === 412) setConflict(true);
    else toast.fromError(err, what);
  };

  const save = useMutation({
    mutationFn: (body: DashboardUpdate) => dashboardsApi.update(meta.id, body, etag),
    onSuccess: (res) => {
      applyResult(res);
      setSaved(canonicalLayout(res.data.layout));
      toast.success("Dashboard saved", `Version ${res.data.version}.`);
    },
    onError: (err) => onError(err, "Could not save the dashboard"),
  });
  const saveDetails = useMutation({
    mutationFn: (body: DashboardUpdate) => dashboardsApi.update(meta.id, body, etag),
    onSuccess: (res) => {
      applyResult(res);
      setEditingDetails(false);
      toast.success("Details saved");
    },
    onError: (err) => onError(err, "Could not save the details"),
  });
  const duplicate = useMutation({
    mutationFn: () => dashboardsApi.duplicate(meta.id),
    onSuccess: (res) => {
      void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
      toast.success("Copy made", `“${res.data.title}” is yours to edit.`);
      navigate(`/dashboards/${res.data.id}`);
    },
    onError: (err) => toast.fromError(err, "Could not duplicate the dashboard"),
  });

  const doSave = useCallback(() => {
    if (!editable || save.isPending || conflict) return;
    const v = canvas.current?.viewport() ?? layout.viewport;
    const body = canonicalLayout({ ...layout, viewport: { x: round(v.x, 1), y: round(v.y, 1), zoom: round(v.zoom, 3) } });
    const problems = validateLayout(body);
    if (problems.length) {
      toast.error("The dashboard cannot be saved", problems.slice(0, 3).join(" "));
      return;
    }
    save.mutate({ layout: body });
  }, [editable, save, conflict, layout, toast]);

  // Keyboard: undo/redo (outside text fields), save anywhere.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
        e.preventDefault();
        doSave();
        return;
      }
      const cmd = historyKey(e);
      if (!cmd || !editable) return;
      const t = e.target as HTMLElement | null;
      if (t?.closest("input, textarea, select, [contenteditable=true]")) return;
      e.preventDefault();
      setHistory((h) => (cmd === "undo" ? undo(h) : redo(h)));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [doSave, editable]);

  // Leaving with unsaved changes asks first.
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [dirty]);

  const addItem = useCallback(
    (item: DragItem, at?: XY) => {
      const l = history.present;
      const id = newId("n", l);
      const width = item.kind === "note" ? NOTE_SIZE.width : NODE_WIDTH[item.kind];
      const height = item.kind === "note" ? NOTE_SIZE.height : 60;
      const centre = at ?? canvas.current?.centre() ?? { x: 0, y: 0 };
      // Offset what is added with a button a little each time, so it does not pile up.
      const nudge = at ? 0 : (l.nodes.length % 5) * 20;
      const position = snapPoint({ x: centre.x - width / 2 + nudge, y: centre.y - height / 2 + nudge });
      let node: LayoutNode;
      if (item.kind === "note") {
        node = { id, kind: "note", text: "", position, size: NOTE_SIZE };
      } else {
        node = { id, kind: item.kind, ref: item.entity.id, position };
        setEntities((e) => (e[item.entity.id] ? e : { ...e, [item.entity.id]: item.entity }));
      }
      onCommit(reparent(addNode(l, node), id, { width, height }));
      setSelected(new Set([id]));
      setPanel("details");
    },
    [history.present, onCommit],
  );

  const addGroupBox = () => {
    const l = history.present;
    const id = newId("g", l);
    const c = canvas.current?.centre() ?? { x: 0, y: 0 };
    onCommit(addGroup(l, { id, label: `Group ${l.groups.length + 1}`, position: snapPoint({ x: c.x - GROUP_SIZE.width / 2, y: c.y - GROUP_SIZE.height / 2 }), size: GROUP_SIZE }));
    setSelected(new Set([id]));
    setPanel("details");
  };

  const autoLayout = async () => {
    if (!canvas.current) return;
    setArranging(true);
    try {
      const next = await canvas.current.autoLayout(history.present);
      onCommit(next);
      window.requestAnimationFrame(() => canvas.current?.fit());
    } catch (err) {
      toast.fromError(err, "Could not arrange the canvas");
    } finally {
      setArranging(false);
    }
  };

  const shareUrl = `${window.location.origin}/dashboards/${meta.id}`;
  const saveState = !editable ? "Read only" : save.isPending ? "Saving…" : dirty ? "Unsaved changes" : "All changes saved";

  return (
    <div className="deditor">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/dashboards">Dashboards</Link>
        <ChevronRightIcon />
        <span aria-current="page">{meta.title}</span>
      </nav>
      <header className="deditor__header">
        <div className="deditor__title">
          <h1>{meta.title}</h1>
          <div className="row deditor__meta">
            <DatasetVisibilityBadge visibility={meta.visibility} />
            <span className="subtle">
              {meta.created_by ? `By ${meta.created_by.name} · ` : ""}version {meta.version} · updated <Time iso={meta.updated_at} />
            </span>
            <span className={`deditor__state deditor__state--${dirty ? "dirty" : "clean"}`} data-testid="save-state" aria-live="polite">
              {saveState}
            </span>
            {refs.length ? <LiveIndicator state={stream} /> : null}
          </div>
        </div>
        <div className="deditor__actions">
          <Button
            variant="ghost"
            size="sm"
            onClick={() => {
              copyText(shareUrl).then(
                () => toast.success("Link copied", shareUrl),
                () => toast.info("Copy this link", shareUrl),
              );
            }}
          >
            <LinkIcon /> Share link
          </Button>
          {me && me.role !== "viewer" ? (
            <Button variant="ghost" size="sm" loading={duplicate.isPending} onClick={() => duplicate.mutate()}>
              <CopyIcon /> Duplicate
            </Button>
          ) : null}
          {editable ? (
            <>
              <Button variant="ghost" size="sm" onClick={() => setEditingDetails(true)}>
                <EditIcon /> Details
              </Button>
              <Button variant="primary" size="sm" loading={save.isPending} disabled={!dirty || conflict} onClick={doSave}>
                Save
              </Button>
            </>
          ) : null}
        </div>
      </header>

      {conflict ? (
        <div className="deditor__alert" data-testid="save-conflict">
          <Alert
            tone="danger"
            title="Someone else saved this dashboard"
            actions={
              <>
                <Button size="sm" variant="primary" onClick={onReload}>
                  <RefreshIcon /> Reload their version
                </Button>
                <Button size="sm" onClick={() => setConflict(false)}>
                  Keep my view
                </Button>
              </>
            }
          >
            It changed since you opened it, so your save was not applied. Reload to see the latest version (your
            unsaved changes here will be lost), then redo them.
          </Alert>
        </div>
      ) : null}

      <div className="deditor__body">
        <section className="deditor__canvas card" aria-label="Canvas">
          {editable ? (
            <div className="deditor__toolbar" role="toolbar" aria-label="Canvas tools">
              <Button size="sm" variant="ghost" icon aria-label="Undo" title="Undo (Ctrl+Z)" disabled={!canUndo(history)} onClick={() => setHistory(undo)}>
                {UNDO_ICON}
              </Button>
              <Button size="sm" variant="ghost" icon aria-label="Redo" title="Redo (Ctrl+Shift+Z)" disabled={!canRedo(history)} onClick={() => setHistory(redo)}>
                {REDO_ICON}
              </Button>
              <span className="deditor__sep" aria-hidden="true" />
              <Button size="sm" variant="ghost" onClick={() => addItem({ kind: "note" })}>
                <PlusIcon /> Note
              </Button>
              <Button size="sm" variant="ghost" onClick={addGroupBox}>
                <PlusIcon /> Group
              </Button>
              <Button size="sm" variant="ghost" loading={arranging} disabled={!layout.nodes.length} onClick={() => void autoLayout()}>
                <LineageIcon /> Auto-layout
              </Button>
              <Button size="sm" variant="ghost" onClick={() => canvas.current?.fit()}>
                <FocusIcon /> Fit
              </Button>
              <span className="deditor__count subtle" data-testid="canvas-count">
                {layout.nodes.length} {layout.nodes.length === 1 ? "node" : "nodes"} · {layout.edges.length}{" "}
                {layout.edges.length === 1 ? "link" : "links"}
              </span>
            </div>
          ) : null}
          <Suspense fallback={<CanvasSkeleton height={CANVAS_HEIGHT} />}>
            <Canvas
              layout={layout}
              entities={entities}
              statuses={statuses}
              editable={editable && !conflict}
              selected={selected}
              onSelect={onSelect}
              onPreview={onPreview}
              onCommit={onCommit}
              onDropItem={addItem}
              fitOnOpen={fitOnOpen}
              apiRef={canvas}
              height={CANVAS_HEIGHT}
            />
          </Suspense>
          {!layout.nodes.length && !layout.groups.length ? (
            <div className="deditor__empty" aria-hidden={!editable}>
              <EmptyState icon={<SearchIcon />} title={editable ? "An empty canvas" : "Nothing on this dashboard yet"}>
                {editable ? "Drag datasets, processes and notes from the panel on the right, then link them." : null}
              </EmptyState>
            </div>
          ) : null}
        </section>
        <div className="deditor__side card">
          {editable ? (
            <div className="dseg deditor__tabs" role="group" aria-label="Side panel">
              <button type="button" className="dseg__option" aria-pressed={panel === "add"} onClick={() => setPanel("add")}>
                Add
              </button>
              <button type="button" className="dseg__option" aria-pressed={panel === "details"} onClick={() => setPanel("details")}>
                Details
              </button>
            </div>
          ) : null}
          {editable && panel === "add" ? (
            <SearchPanel onAdd={(item) => addItem(item)} />
          ) : (
            <Inspector
              layout={layout}
              entities={entities}
              statuses={statuses}
              selected={selected}
              editable={editable && !conflict}
              onCommit={onCommit}
              onClear={() => setSelected(new Set())}
            />
          )}
        </div>
      </div>

      <Dialog open={editingDetails} onClose={() => setEditingDetails(false)} title="Dashboard details">
        {editingDetails ? (
          <DetailsForm dashboard={meta} pending={saveDetails.isPending} onSave={(b) => saveDetails.mutate(b)} onCancel={() => setEditingDetails(false)} />
        ) : null}
      </Dialog>
    </div>
  );
}

export function Component() {
  const { id = "" } = useParams();
  const [session, setSession] = useState(0);
  const query = useQuery({
    queryKey: dashboardKeys.one(id),
    queryFn: ({ signal }) => dashboardsApi.get(id, signal),
    staleTime: Infinity,
  });

  if (query.isPending) {
    return (
      <div className="deditor">
        <Skeleton width={280} height={28} />
        <div style={{ height: 16 }} />
        <CanvasSkeleton height={CANVAS_HEIGHT} />
      </div>
    );
  }
  if (query.isError) {
    if (isApiError(query.error) && (query.error.status === 404 || query.error.status === 422)) {
      return (
        <div className="card">
          <EmptyState
            icon={<SearchIcon />}
            title="Dashboard not found"
            actions={
              <Link className={buttonClass({ variant: "primary" })} to="/dashboards">
                All dashboards
              </Link>
            }
          >
            It does not exist, or you do not have access to it.
          </EmptyState>
        </div>
      );
    }
    return <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />;
  }
  return (
    <Editor
      key={`${id}:${session}`}
      initial={query.data}
      onReload={() => {
        void query.refetch().then(() => setSession((s) => s + 1));
      }}
    />
  );
}
