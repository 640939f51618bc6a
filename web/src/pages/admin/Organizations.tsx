/** Organizations: platform admins list, create, edit and delete; org admins edit their own. */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { orgsApi } from "../../api/endpoints";
import { isAdmin, keys, useMe } from "../../api/queries";
import type { Org, OrgCreate, OrgUpdate, Visibility } from "../../api/types";
import { VisibilityOptions } from "../../components/datasets";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { BuildingIcon, EditIcon, PlusIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import {
  Avatar,
  Badge,
  Button,
  Checkbox,
  EmptyState,
  ErrorAlert,
  LoadMore,
  QueryList,
  SelectField,
  TableSkeleton,
  TextAreaField,
  TextField,
  Time,
} from "../../components/ui";
import { splitErrors } from "../../lib/forms";
import { AdminTable, NotAllowed, VisibilityBadge } from "./shared";

const ORG_FIELDS = ["name", "slug", "description", "settings.default_visibility", "settings.allow_connection_tests"];

function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 100);
}

function OrgForm({
  org,
  canRename,
  onDone,
  onCancel,
}: {
  org?: Org;
  canRename: boolean;
  onDone: (org: Org) => void;
  onCancel: () => void;
}) {
  const qc = useQueryClient();
  const [name, setName] = useState(org?.name ?? "");
  const [slug, setSlug] = useState("");
  const [description, setDescription] = useState(org?.description ?? "");
  const [visibility, setVisibility] = useState<Visibility>(org?.settings.default_visibility ?? "internal");
  const [allowTests, setAllowTests] = useState(org?.settings.allow_connection_tests ?? true);

  const save = useMutation({
    mutationFn: () => {
      const settings = { default_visibility: visibility, allow_connection_tests: allowTests };
      if (org) {
        const body: OrgUpdate = { description, settings };
        if (canRename && name.trim() !== org.name) body.name = name.trim();
        return orgsApi.update(org.id, body);
      }
      const body: OrgCreate = { name: name.trim(), description, settings };
      if (slug.trim()) body.slug = slug.trim();
      return orgsApi.create(body);
    },
    onSuccess: (saved) => {
      qc.invalidateQueries({ queryKey: keys.orgs });
      qc.invalidateQueries({ queryKey: keys.me });
      onDone(saved);
    },
  });

  const { fields, showAlert } = splitErrors(save.error, ORG_FIELDS);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      {showAlert ? <ErrorAlert error={save.error} showFieldErrors /> : null}
      <div className="form-grid">
        <TextField
          label="Name"
          name="name"
          required
          autoFocus
          maxLength={200}
          value={name}
          disabled={!!org && !canRename}
          hint={org && !canRename ? "Only platform administrators can rename an organization." : undefined}
          onChange={(e) => setName(e.target.value)}
          error={fields.name}
          wide={!!org}
        />
        {!org ? (
          <TextField
            label="Slug"
            name="slug"
            optional
            mono
            placeholder={slugify(name) || "acme-data"}
            value={slug}
            onChange={(e) => setSlug(e.target.value)}
            hint="Lowercase letters, digits and dashes. Derived from the name if empty."
            error={fields.slug}
          />
        ) : null}
        <TextAreaField
          label="Description"
          name="description"
          optional
          wide
          maxLength={2000}
          rows={3}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fields.description}
        />
        <SelectField
          label="Default visibility"
          name="default_visibility"
          value={visibility}
          onChange={(e) => setVisibility(e.target.value as Visibility)}
          hint="For datasets created by lineage ingestion."
          error={fields["settings.default_visibility"]}
        >
          <VisibilityOptions />
        </SelectField>
        <div className="field" style={{ justifyContent: "center" }}>
          <Checkbox
            label="Allow connection tests"
            description="Connect may run live connection tests for this organization."
            checked={allowTests}
            onChange={(e) => setAllowTests(e.target.checked)}
            error={fields["settings.allow_connection_tests"]}
          />
        </div>
      </div>
      <div className="form-actions">
        <Button onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          {org ? "Save changes" : "Create organization"}
        </Button>
      </div>
    </form>
  );
}

export function Component() {
  const { data: me } = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const platformAdmin = !!me?.is_platform_admin;
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Org | null>(null);
  const [deleting, setDeleting] = useState<Org | null>(null);

  const orgs = useInfiniteQuery({
    queryKey: keys.orgs,
    queryFn: ({ pageParam }) => orgsApi.list(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: isAdmin(me),
  });

  const remove = useMutation({
    mutationFn: (org: Org) => orgsApi.remove(org.id),
    onSuccess: (_, org) => {
      qc.invalidateQueries({ queryKey: keys.orgs });
      toast.success("Organization deleted", `${org.name} was deleted.`);
      setDeleting(null);
    },
    onError: (err) => toast.fromError(err, "Could not delete the organization"),
  });

  if (!isAdmin(me)) return <NotAllowed what="organizations" />;
  const items = orgs.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <section className="card" aria-labelledby="orgs-title">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="orgs-title">
            {platformAdmin ? "Organizations" : "Your organization"}
          </h2>
          <p className="card__subtitle">
            {platformAdmin
              ? "Each organization owns its datasets, people and settings."
              : "Its description and settings apply to everyone in it."}
          </p>
        </div>
        {platformAdmin ? (
          <Button variant="primary" onClick={() => setCreating(true)}>
            <PlusIcon /> New organization
          </Button>
        ) : null}
      </div>
      <QueryList
        query={orgs}
        loading={<TableSkeleton rows={3} columns={5} label="Loading organizations" />}
        isEmpty={items.length === 0}
        empty={
          <EmptyState icon={<BuildingIcon />} title="No organizations yet">
            Create the first organization to invite people into it.
          </EmptyState>
        }
      >
        <AdminTable columns={["Organization", "Description", "Default visibility", "Connection tests", "Created"]}>
          {items.map((org) => (
            <tr key={org.id} data-testid="org-row">
              <td>
                <div className="identity">
                  <Avatar name={org.name} seed={org.id} square />
                  <div className="identity__text">
                    <span className="cell-primary">
                      {org.name}
                      {org.id === me?.org.id ? (
                        <>
                          {" "}
                          <Badge tone="primary">Yours</Badge>
                        </>
                      ) : null}
                    </span>
                    <span className="cell-secondary mono">{org.slug}</span>
                  </div>
                </div>
              </td>
              <td className="muted" style={{ maxWidth: 320 }}>
                {org.description || <span className="subtle">—</span>}
              </td>
              <td>
                <VisibilityBadge value={org.settings.default_visibility ?? "internal"} />
              </td>
              <td>
                {org.settings.allow_connection_tests ? (
                  <Badge tone="success">Allowed</Badge>
                ) : (
                  <Badge>Off</Badge>
                )}
              </td>
              <td className="muted">
                <Time iso={org.created_at} />
              </td>
              <td className="actions">
                <Button size="sm" variant="ghost" onClick={() => setEditing(org)} aria-label={`Edit ${org.name}`}>
                  <EditIcon /> Edit
                </Button>
                {platformAdmin && org.id !== me?.org.id ? (
                  <Button
                    size="sm"
                    variant="danger-ghost"
                    icon
                    onClick={() => setDeleting(org)}
                    aria-label={`Delete ${org.name}`}
                    title="Delete"
                  >
                    <TrashIcon />
                  </Button>
                ) : null}
              </td>
            </tr>
          ))}
        </AdminTable>
      </QueryList>
      <LoadMore query={orgs} />

      <Dialog
        open={creating}
        onClose={() => setCreating(false)}
        title="New organization"
        description="People, datasets and settings belong to one organization."
      >
        <OrgForm
          canRename
          onCancel={() => setCreating(false)}
          onDone={(org) => {
            setCreating(false);
            toast.success("Organization created", `${org.name} (${org.slug}) is ready.`);
          }}
        />
      </Dialog>
      <Dialog open={!!editing} onClose={() => setEditing(null)} title={`Edit ${editing?.name ?? ""}`}>
        {editing ? (
          <OrgForm
            org={editing}
            canRename={platformAdmin}
            onCancel={() => setEditing(null)}
            onDone={(org) => {
              setEditing(null);
              toast.success("Organization saved", `${org.name} was updated.`);
            }}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={!!deleting}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirmLabel="Delete organization"
        pending={remove.isPending}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
      >
        Only an organization with no users left can be deleted. This cannot be undone.
      </ConfirmDialog>
    </section>
  );
}
