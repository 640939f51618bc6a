/** A dataset's profile: description, fields, owners, visibility; edit and deprecate. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { datasetsApi, followsApi } from "../api/endpoints";
import { isApiError } from "../api/errors";
import { useMe } from "../api/queries";
import type { Dataset, DatasetField, Me, Visibility } from "../api/types";
import {
  DatasetVisibilityBadge,
  PlatformBadge,
  PlatformTile,
  StatusBadge,
  VisibilityOptions,
  datasetTitle,
  platformLabel,
} from "../components/datasets";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { FeedTimeline } from "../components/feed";
import { DatasetLineage } from "../components/lineage/DatasetLineage";
import {
  BanIcon,
  BellIcon,
  CatalogIcon,
  CheckIcon,
  ChevronRightIcon,
  EditIcon,
  FeedIcon,
  LineageIcon,
  PlusIcon,
  ProfilesIcon,
  SearchIcon,
} from "../components/icons";
import { useToast } from "../components/toasts";
import {
  Alert,
  Avatar,
  Badge,
  Button,
  CopyButton,
  EmptyState,
  ErrorAlert,
  SelectField,
  Skeleton,
  TabPanel,
  Tabs,
  TextAreaField,
  TextField,
  Time,
  buttonClass,
} from "../components/ui";
import { formFieldErrors, parseTags } from "./catalog/PublishDataset";
import { ConnectPanel } from "./dataset/ConnectPanel";
import { SlaPanel } from "../components/SlaPanel";
import { QualityPanel } from "../components/QualityPanel";
import { Markdown } from "../components/Markdown";

const datasetKey = (id: string) => ["datasets", "one", id] as const;

function canEdit(me: Me | null | undefined, ds: Dataset): boolean {
  if (!me) return false;
  if (me.kind === "user" && ds.owners.some((o) => o.id === me.id)) return true;
  return me.org.id === ds.org.id && ["admin", "steward", "producer"].includes(me.role);
}

function canGovern(me: Me | null | undefined, ds: Dataset): boolean {
  if (!me) return false;
  if (me.kind === "user" && ds.owners.some((o) => o.id === me.id)) return true;
  return me.org.id === ds.org.id && ["admin", "steward"].includes(me.role);
}

function Description({ text }: { text: string }) {
  if (!text.trim()) return <p className="subtle">No description yet.</p>;
  return <Markdown text={text} />;
}

function FieldsTable({ fields }: { fields: DatasetField[] }) {
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  const shown = f
    ? fields.filter(
        (x) =>
          x.name.toLowerCase().includes(f) ||
          (x.description ?? "").toLowerCase().includes(f) ||
          (x.tags ?? []).some((t) => t.includes(f)),
      )
    : fields;
  if (!fields.length) {
    return (
      <EmptyState icon={<CatalogIcon />} title="No fields described">
        Fields come from the producer or from the schema facet of OpenLineage events.
      </EmptyState>
    );
  }
  return (
    <>
      {fields.length > 8 ? (
        <div className="card__body" style={{ paddingBottom: 0 }}>
          <div className="catalog__search" style={{ maxWidth: 320 }}>
            <label htmlFor="field-filter" className="sr-only">
              Filter fields
            </label>
            <SearchIcon />
            <input
              id="field-filter"
              className="input"
              style={{ height: 36, fontSize: "var(--text-base)" }}
              placeholder="Filter fields"
              value={filter}
              onChange={(e) => setFilter(e.target.value)}
            />
          </div>
        </div>
      ) : null}
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Type</th>
              <th scope="col">Description</th>
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((field) => (
              <tr key={field.name}>
                <td className="mono cell-primary">{field.name}</td>
                <td className="mono muted">{field.type || "—"}</td>
                <td className="muted">{field.description || <span className="subtle">—</span>}</td>
                <td>
                  <div className="row" style={{ gap: 4 }}>
                    {(field.tags ?? []).map((t) =>
                      t === "pii" ? (
                        <Badge key={t} tone="warning">
                          PII
                        </Badge>
                      ) : (
                        <Badge key={t}>{t}</Badge>
                      ),
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function EditForm({
  ds,
  etag,
  governs,
  onDone,
  onCancel,
}: {
  ds: Dataset;
  etag: string | null;
  governs: boolean;
  onDone: () => void;
  onCancel: () => void;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const [displayName, setDisplayName] = useState(ds.display_name);
  const [description, setDescription] = useState(ds.description);
  const [domain, setDomain] = useState(ds.domain ?? "");
  const [tags, setTags] = useState(ds.tags.join(", "));
  const [visibility, setVisibility] = useState<Visibility>(ds.visibility);

  const save = useMutation({
    mutationFn: () => {
      const body: Parameters<typeof datasetsApi.update>[1] = {};
      if (displayName !== ds.display_name) body.display_name = displayName;
      if (description !== ds.description) body.description = description;
      if ((domain.trim() || null) !== (ds.domain ?? null)) body.domain = domain.trim() || null;
      const nextTags = parseTags(tags);
      if (nextTags.join(",") !== ds.tags.join(",")) body.tags = nextTags;
      if (visibility !== ds.visibility) body.visibility = visibility;
      return datasetsApi.update(ds.id, body, etag);
    },
    onSuccess: (res) => {
      qc.setQueryData(datasetKey(ds.id), res);
      qc.invalidateQueries({ queryKey: ["datasets", "search"] });
      toast.success("Dataset saved", `${datasetTitle(res.data)} was updated.`);
      onDone();
    },
  });

  const stale = isApiError(save.error) && save.error.status === 412;
  const { fields, rest } = formFieldErrors(save.error, ["display_name", "description", "domain", "tags", "visibility"]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      {stale ? (
        <ErrorAlert
          error={save.error}
          onRetry={() => {
            qc.invalidateQueries({ queryKey: datasetKey(ds.id) });
            onCancel();
          }}
        />
      ) : rest ? (
        <ErrorAlert error={save.error} showFieldErrors />
      ) : null}
      <div className="form-grid">
        <TextField
          label="Display name"
          name="display_name"
          wide
          autoFocus
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fields.display_name}
        />
        <TextAreaField
          label="Description"
          name="description"
          wide
          rows={5}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fields.description}
          hint="Markdown. Separate paragraphs with a blank line."
        />
        <TextField
          label="Domain"
          name="domain"
          optional
          value={domain}
          onChange={(e) => setDomain(e.target.value)}
          error={fields.domain}
        />
        <TextField
          label="Tags"
          name="tags"
          optional
          value={tags}
          onChange={(e) => setTags(e.target.value)}
          error={fields.tags}
          hint="Separate with commas or spaces."
        />
        <SelectField
          label="Visibility"
          name="visibility"
          value={visibility}
          disabled={!governs}
          onChange={(e) => setVisibility(e.target.value as Visibility)}
          error={fields.visibility}
          hint={governs ? undefined : "Only owners, admins and stewards change visibility."}
        >
          <VisibilityOptions />
        </SelectField>
      </div>
      <div className="form-actions">
        <Button onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          Save changes
        </Button>
      </div>
    </form>
  );
}

function DatasetSkeleton() {
  return (
    <div role="status" aria-busy="true">
      <span className="sr-only">Loading dataset…</span>
      <div className="row" style={{ gap: 16, marginBottom: 24 }} aria-hidden="true">
        <span className="skeleton" style={{ width: 56, height: 56, borderRadius: 12 }} />
        <div style={{ display: "grid", gap: 10, flex: 1 }}>
          <Skeleton width="30%" height={22} />
          <Skeleton width="45%" />
        </div>
      </div>
      <div className="card card__body" style={{ display: "grid", gap: 12 }} aria-hidden="true">
        <Skeleton width="90%" />
        <Skeleton width="70%" />
        <Skeleton width="80%" />
      </div>
    </div>
  );
}

/** Lets long qualified names wrap after dots and slashes instead of mid-word. */
function breakable(text: string) {
  return text.split(/(?<=[./])/).map((part, i) => (
    <span key={i}>
      {part}
      <wbr />
    </span>
  ));
}

type DatasetTab = "overview" | "connect" | "activity" | "lineage";
const TABS: { id: DatasetTab; label: string; icon: ReactNode }[] = [
  { id: "overview", label: "Overview", icon: <CatalogIcon /> },
  { id: "connect", label: "Connect", icon: <ProfilesIcon /> },
  { id: "activity", label: "Activity", icon: <FeedIcon /> },
  { id: "lineage", label: "Lineage", icon: <LineageIcon /> },
];
const TAB_IDS = new Set<string>(TABS.map((t) => t.id));

export function Component() {
  const { id = "" } = useParams();
  const { data: me } = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const [editing, setEditing] = useState(false);
  const [deprecating, setDeprecating] = useState(false);
  const [params, setParams] = useSearchParams();
  const tabParam = params.get("tab");
  const tab: DatasetTab = tabParam && TAB_IDS.has(tabParam) ? (tabParam as DatasetTab) : "overview";
  const setTab = (next: DatasetTab) =>
    setParams(
      (prev) => {
        const p = new URLSearchParams(prev);
        if (next === "overview") p.delete("tab");
        else p.set("tab", next);
        return p;
      },
      { replace: true },
    );

  const query = useQuery({
    queryKey: datasetKey(id),
    queryFn: ({ signal }) => datasetsApi.get(id, signal),
  });

  const follow = useMutation({
    // The state asked for, not a toggle: a retried request cannot undo itself.
    mutationFn: (want: boolean) => followsApi.set(id, want),
    onSuccess: (state) => {
      qc.setQueryData(datasetKey(id), (old: typeof query.data) =>
        old ? { ...old, data: { ...old.data, following: state.following, follower_count: state.follower_count } } : old,
      );
      toast.success(
        state.following ? "Following" : "Unfollowed",
        state.following ? "Its changes will appear in your feed." : "You no longer follow this dataset.",
      );
    },
    onError: (err) => toast.fromError(err, "Could not change the follow"),
  });

  const deprecate = useMutation({
    mutationFn: () => datasetsApi.deprecate(id, query.data?.etag),
    onSuccess: (res) => {
      qc.setQueryData(datasetKey(id), res);
      qc.invalidateQueries({ queryKey: ["datasets", "search"] });
      toast.success("Dataset deprecated", "It no longer appears in default search.");
      setDeprecating(false);
    },
    onError: (err) => toast.fromError(err, "Could not deprecate the dataset"),
  });

  if (query.isPending) return <DatasetSkeleton />;
  if (query.isError) {
    if (isApiError(query.error) && (query.error.status === 404 || query.error.status === 422)) {
      return (
        <div className="card">
          <EmptyState
            icon={<SearchIcon />}
            title="Dataset not found"
            actions={
              <Link className={buttonClass({ variant: "primary" })} to="/catalog">
                Back to the catalog
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

  const ds = query.data.data;
  const editable = canEdit(me, ds);
  const governs = canGovern(me, ds);
  const qualified = `${ds.namespace}/${ds.name}`;
  const location = [ds.source.database, ds.source.schema, ds.source.table].filter(Boolean).join(".") || ds.source.path;

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/catalog">Catalog</Link>
        <ChevronRightIcon />
        <span aria-current="page">{datasetTitle(ds)}</span>
      </nav>
      <header className="dataset-header">
        <PlatformTile platform={ds.platform} size={56} />
        <div className="dataset-header__text">
          <h1>{datasetTitle(ds)}</h1>
          <div className="dataset-header__qualified">
            <code title={qualified}>{qualified}</code>
            <CopyButton text={qualified} label="Copy name" variant="ghost" />
          </div>
          <div className="row" style={{ marginTop: "var(--space-2)" }}>
            <PlatformBadge platform={ds.platform} />
            <DatasetVisibilityBadge visibility={ds.visibility} />
            <StatusBadge ds={ds} />
            {ds.domain ? <Badge tone="primary">{ds.domain}</Badge> : null}
            {ds.tags.map((t) => (
              <span key={t} className={t === "pii" ? "tag tag--pii" : "tag"}>
                #{t}
              </span>
            ))}
          </div>
        </div>
        <div className="page-header__actions">
          <Button
            variant={ds.following ? "secondary" : "primary"}
            aria-pressed={!!ds.following}
            loading={follow.isPending}
            onClick={() => follow.mutate(!ds.following)}
          >
            {ds.following ? <CheckIcon /> : <PlusIcon />}
            <span>{ds.following ? "Following" : "Follow"}</span>
            <span className="follow-count" aria-label={`${ds.follower_count ?? 0} followers`}>
              {ds.follower_count ?? 0}
            </span>
          </Button>
          <Link
            className={buttonClass({})}
            to={`/alerts?new=1&affects=${encodeURIComponent(ds.id)}&name=${encodeURIComponent(datasetTitle(ds))}`}
            title="Get a webhook, Slack message or e-mail when something upstream of this dataset breaks"
          >
            <BellIcon /> Alert me
          </Link>
          {editable ? (
            <Button onClick={() => setEditing(true)}>
              <EditIcon /> Edit
            </Button>
          ) : null}
          {governs && ds.status !== "deprecated" ? (
            <Button variant="danger-ghost" onClick={() => setDeprecating(true)}>
              <BanIcon /> Deprecate
            </Button>
          ) : null}
        </div>
      </header>

      {ds.status === "deprecated" ? (
        <div style={{ marginBottom: "var(--space-5)" }}>
          <Alert tone="warning" title="Deprecated">
            This dataset is hidden from default search. Prefer a replacement, or ask its owners.
          </Alert>
        </div>
      ) : null}

      <Tabs label="Dataset sections" idPrefix="dataset" tabs={TABS} value={tab} onChange={setTab} />
      {tab === "connect" ? (
        <TabPanel idPrefix="dataset" id="connect">
          <ConnectPanel ds={ds} title={datasetTitle(ds)} />
        </TabPanel>
      ) : tab === "activity" ? (
        <TabPanel idPrefix="dataset" id="activity">
          <FeedTimeline
            datasetId={ds.id}
            pageSize={20}
            toolbar={<span className="muted">Changes, follows and lineage of {datasetTitle(ds)}, live.</span>}
          />
        </TabPanel>
      ) : tab === "lineage" ? (
        <TabPanel idPrefix="dataset" id="lineage">
          <DatasetLineage ds={ds} />
        </TabPanel>
      ) : (
      <TabPanel idPrefix="dataset" id="overview">
      <div className="dataset-grid">
        <div className="stack">
          <section className="card" aria-labelledby="about-heading">
            <div className="card__header">
              <h2 className="card__title" id="about-heading">
                About
              </h2>
            </div>
            <div className="card__body">
              <Description text={ds.description} />
            </div>
          </section>
          <section className="card" aria-labelledby="fields-heading">
            <div className="card__header">
              <h2 className="card__title" id="fields-heading">
                Fields <span className="subtle">({ds.fields.length})</span>
              </h2>
            </div>
            <FieldsTable fields={ds.fields} />
          </section>
        </div>
        <aside className="stack" aria-label="Details">
          <SlaPanel datasetId={ds.id} editable={editable} />
          <QualityPanel datasetId={ds.id} />
          <section className="card" aria-labelledby="details-heading">
            <div className="card__header">
              <h2 className="card__title" id="details-heading">
                Details
              </h2>
            </div>
            <div className="card__body">
              <dl className="definition-list">
                <dt>Owners</dt>
                <dd>
                  {ds.owners.length ? (
                    <ul className="people">
                      {ds.owners.map((o) => (
                        <li key={o.id} className="identity">
                          <Avatar name={o.name || o.email || "?"} seed={o.id} size="sm" />
                          <span className="identity__text">
                            <span>{o.name}</span>
                            {o.email ? <span className="cell-secondary">{o.email}</span> : null}
                          </span>
                        </li>
                      ))}
                    </ul>
                  ) : ds.named_owners?.length ? null : (
                    <span className="subtle">No owner</span>
                  )}
                  {ds.named_owners?.length ? (
                    <ul className="people" data-testid="named-owners">
                      {ds.named_owners.map((name) => (
                        <li key={name} className="identity">
                          <Avatar name={name.replace(/^[a-z]+:/, "")} seed={name} size="sm" />
                          <span className="identity__text">
                            <span>{name.replace(/^[a-z]+:/, "")}</span>
                            <span className="cell-secondary">Named by the pipeline (not a DataMesh user)</span>
                          </span>
                        </li>
                      ))}
                    </ul>
                  ) : null}
                </dd>
                <dt>Organization</dt>
                <dd>{ds.org.name}</dd>
                {location ? (
                  <>
                    <dt>Location</dt>
                    <dd className="mono" style={{ fontSize: "var(--text-sm)" }}>
                      {breakable(location)}
                    </dd>
                  </>
                ) : null}
                <dt>Followers</dt>
                <dd>{ds.follower_count ?? 0}</dd>
                <dt>Origin</dt>
                <dd>{ds.origin}</dd>
                <dt>Updated</dt>
                <dd>
                  <Time iso={ds.updated_at} />
                </dd>
                <dt>Created</dt>
                <dd>
                  <Time iso={ds.created_at} />
                </dd>
              </dl>
            </div>
          </section>
          <section className="card" aria-labelledby="connect-cta-heading">
            <div className="card__header">
              <h2 className="card__title" id="connect-cta-heading">
                Connect
              </h2>
            </div>
            <div className="card__body stack" style={{ gap: "var(--space-3)" }}>
              <p className="muted" style={{ margin: 0 }}>
                Working code for {platformLabel(ds.platform)}, filled in from your profile: Python, SQL and more,
                one click to copy.
              </p>
              <div>
                <Button variant="primary" onClick={() => setTab("connect")}>
                  <ProfilesIcon /> Get the code
                </Button>
              </div>
            </div>
          </section>
        </aside>
      </div>
      </TabPanel>
      )}

      <Dialog open={editing} onClose={() => setEditing(false)} title={`Edit ${datasetTitle(ds)}`}>
        {editing ? (
          <EditForm
            ds={ds}
            etag={query.data.etag}
            governs={governs}
            onDone={() => setEditing(false)}
            onCancel={() => setEditing(false)}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={deprecating}
        title={`Deprecate ${datasetTitle(ds)}?`}
        confirmLabel="Deprecate"
        pending={deprecate.isPending}
        onClose={() => setDeprecating(false)}
        onConfirm={() => deprecate.mutate()}
      >
        It leaves default search; people who use it will see it is deprecated. Admins and stewards can
        still find it.
      </ConfirmDialog>
    </>
  );
}
