/** Platform profiles: your (and your organization's) connection settings per platform, for Connect. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router";
import { CONNECT_PLATFORMS, profileKeys, profilesApi, type PlatformProfile } from "../api/connect";
import { connectorsApi } from "../api/endpoints";
import { useMe } from "../api/queries";
import { PlatformTile, platformLabel } from "../components/datasets";
import { ConfirmDialog } from "../components/Dialog";
import { CheckIcon, EditIcon, KeyIcon, PlusIcon, ProfilesIcon, TrashIcon } from "../components/icons";
import { useToast } from "../components/toasts";
import { Badge, Button, EmptyState, PageHeader, QueryList, TableSkeleton, Time } from "../components/ui";
import { targetSummary } from "../lib/jsonSchemaForm";
import { ProfileFormDialog, canEditProfile } from "./profiles/ProfileForm";
import "./profiles/profiles.css";

function SecretRefs({ secrets }: { secrets: Record<string, string> }) {
  const entries = Object.entries(secrets);
  if (!entries.length) return <span className="subtle">None</span>;
  return (
    <ul className="profile-refs">
      {entries.map(([name, ref]) => (
        <li key={name}>
          <KeyIcon />
          <span className="muted">{name}</span>
          <code className="mono" title={ref}>
            {ref}
          </code>
        </li>
      ))}
    </ul>
  );
}

export function Component() {
  const { data: me } = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const [params, setParams] = useSearchParams();
  const [platform, setPlatform] = useState("");
  const [editing, setEditing] = useState<PlatformProfile | null>(null);
  const [deleting, setDeleting] = useState<PlatformProfile | null>(null);
  // ?new=<platform> (from Connect) opens the form for that platform.
  const newFor = params.get("new");
  const [creating, setCreating] = useState(newFor !== null);

  const list = useQuery({
    queryKey: profileKeys.list(platform || null),
    queryFn: ({ signal }) => profilesApi.list({ platform: platform || null }, signal),
  });
  const connectors = useQuery({
    queryKey: ["connectors"],
    queryFn: ({ signal }) => connectorsApi.list(signal),
    staleTime: 10 * 60_000,
  });
  const platforms = (connectors.data?.items ?? []).filter((c) =>
    (CONNECT_PLATFORMS as readonly string[]).includes(c.type),
  );

  const makeDefault = useMutation({
    mutationFn: (p: PlatformProfile) => profilesApi.makeDefault(p.id),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: profileKeys.all });
      void qc.invalidateQueries({ queryKey: ["connect"] });
      toast.success("Default changed", `${p.name} is now the default ${platformLabel(p.platform)} profile.`);
    },
    onError: (err) => toast.fromError(err, "Could not change the default"),
  });

  const remove = useMutation({
    mutationFn: (p: PlatformProfile) => profilesApi.remove(p.id),
    onSuccess: (_, p) => {
      void qc.invalidateQueries({ queryKey: profileKeys.all });
      void qc.invalidateQueries({ queryKey: ["connect"] });
      toast.success("Profile deleted", `${p.name} is gone; Connect no longer uses it.`);
      setDeleting(null);
    },
    onError: (err) => toast.fromError(err, "Could not delete the profile"),
  });

  const closeForm = () => {
    setCreating(false);
    setEditing(null);
    if (newFor !== null) {
      setParams(
        (prev) => {
          const p = new URLSearchParams(prev);
          p.delete("new");
          return p;
        },
        { replace: true },
      );
    }
  };

  const items = list.data?.items ?? [];
  const newButton = (
    <Button variant="primary" onClick={() => setCreating(true)} disabled={!platforms.length}>
      <PlusIcon /> New profile
    </Button>
  );

  return (
    <>
      <PageHeader
        eyebrow="Operate"
        title="Platform profiles"
        description="Your connection settings per platform. Connect fills its code in from them, so it runs as-is."
        actions={newButton}
      />
      <section className="card" aria-labelledby="profiles-heading">
        <div className="card__header">
          <h2 className="card__title" id="profiles-heading">
            Profiles {list.data ? <span className="subtle">({items.length})</span> : null}
          </h2>
          <div className="row">
            <label htmlFor="profile-platform" className="sr-only">
              Platform
            </label>
            <select
              id="profile-platform"
              className="select"
              value={platform}
              onChange={(e) => setPlatform(e.target.value)}
            >
              <option value="">All platforms</option>
              {platforms.map((c) => (
                <option key={c.type} value={c.type}>
                  {c.title}
                </option>
              ))}
            </select>
          </div>
        </div>
        <QueryList
          query={list}
          loading={<TableSkeleton rows={3} columns={5} label="Loading profiles" />}
          isEmpty={items.length === 0}
          empty={
            <EmptyState
              icon={<ProfilesIcon />}
              title={platform ? `No ${platformLabel(platform)} profile yet` : "No profiles yet"}
              actions={newButton}
            >
              A profile holds where you connect (account, host, warehouse…) and references to your secrets. With one,
              Connect writes code that runs as-is.
            </EmptyState>
          }
        >
          <div className="table-wrap">
            <table className="table" data-testid="profiles-table">
              <thead>
                <tr>
                  <th scope="col">Profile</th>
                  <th scope="col">Connects to</th>
                  <th scope="col">Secrets (references)</th>
                  <th scope="col">Updated</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((p) => {
                  const editable = canEditProfile(me, p);
                  return (
                    <tr key={p.id} data-testid="profile-row">
                      <td>
                        <div className="identity">
                          <PlatformTile platform={p.platform} size={32} />
                          <span className="identity__text">
                            <span className="cell-primary">{p.name}</span>
                            <span className="row" style={{ gap: 4 }}>
                              <span className="cell-secondary">{platformLabel(p.platform)}</span>
                              {p.scope === "org" ? <Badge tone="info">Org-wide</Badge> : <Badge>Yours</Badge>}
                              {p.is_default ? (
                                <Badge tone="success" icon={<CheckIcon />}>
                                  Default
                                </Badge>
                              ) : null}
                            </span>
                          </span>
                        </div>
                      </td>
                      <td className="mono muted" style={{ fontSize: "var(--text-sm)" }}>
                        {targetSummary(p.settings) || <span className="subtle">—</span>}
                      </td>
                      <td>
                        <SecretRefs secrets={p.secrets} />
                      </td>
                      <td className="muted" style={{ whiteSpace: "nowrap" }}>
                        <Time iso={p.updated_at} />
                      </td>
                      <td>
                        {editable ? (
                          <div className="row" style={{ justifyContent: "flex-end", flexWrap: "nowrap" }}>
                            {!p.is_default ? (
                              <Button
                                size="sm"
                                variant="ghost"
                                loading={makeDefault.isPending && makeDefault.variables?.id === p.id}
                                onClick={() => makeDefault.mutate(p)}
                              >
                                Make default
                              </Button>
                            ) : null}
                            <Button size="sm" variant="ghost" icon aria-label={`Edit ${p.name}`} onClick={() => setEditing(p)}>
                              <EditIcon />
                            </Button>
                            <Button
                              size="sm"
                              variant="danger-ghost"
                              icon
                              aria-label={`Delete ${p.name}`}
                              onClick={() => setDeleting(p)}
                            >
                              <TrashIcon />
                            </Button>
                          </div>
                        ) : (
                          <span className="subtle" style={{ fontSize: "var(--text-sm)" }}>
                            Set by your admins
                          </span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </QueryList>
      </section>

      <ProfileFormDialog
        open={creating || !!editing}
        profile={editing}
        platforms={platforms}
        initialPlatform={newFor ?? (platform || undefined)}
        me={me}
        onClose={closeForm}
      />
      <ConfirmDialog
        open={!!deleting}
        title={`Delete ${deleting?.name ?? "profile"}?`}
        confirmLabel="Delete"
        pending={remove.isPending}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
      >
        Connect stops using it{deleting?.scope === "org" ? " for everyone in your organization" : ""}. The secrets it
        points to are not touched.
      </ConfirmDialog>
    </>
  );
}
