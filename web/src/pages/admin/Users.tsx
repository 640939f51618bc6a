/** Users of your organization (admins) or any organization (platform admins). */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useMemo, useState, type FormEvent } from "react";
import { orgsApi, usersApi } from "../../api/endpoints";
import { isAdmin, keys, useMe } from "../../api/queries";
import type { Me, Role, User, UserCreate, UserUpdate } from "../../api/types";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { BanIcon, CheckCircleIcon, EditIcon, LockIcon, PlusIcon, UsersIcon } from "../../components/icons";
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
  TextField,
  Time,
} from "../../components/ui";
import { roleLabel } from "../../components/UserMenu";
import { splitErrors } from "../../lib/forms";
import { AdminTable, NotAllowed, ROLE_HELP, RoleBadge, RoleOptions, rolesUpTo } from "./shared";

const USER_FIELDS = ["email", "name", "password", "role", "org_id", "is_platform_admin", "disabled"];

function useOrgOptions(enabled: boolean) {
  return useQuery({
    queryKey: [...keys.orgs, "options"],
    queryFn: () => orgsApi.list(null, 200),
    enabled,
    staleTime: 60_000,
  });
}

function UserForm({
  me,
  user,
  defaultOrgId,
  onDone,
  onCancel,
}: {
  me: Me;
  user?: User;
  defaultOrgId?: string;
  onDone: (user: User) => void;
  onCancel: () => void;
}) {
  const qc = useQueryClient();
  const platformAdmin = me.is_platform_admin;
  const orgOptions = useOrgOptions(platformAdmin && !user);
  const [email, setEmail] = useState(user?.email ?? "");
  const [name, setName] = useState(user?.name ?? "");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>(user?.role ?? "viewer");
  const [orgId, setOrgId] = useState(defaultOrgId ?? me.org.id);
  const [makePlatformAdmin, setMakePlatformAdmin] = useState(false);
  const roles = rolesUpTo(me.role, platformAdmin);

  const save = useMutation({
    mutationFn: () => {
      if (user) {
        const body: UserUpdate = {};
        if (name !== user.name) body.name = name;
        if (role !== user.role) body.role = role;
        if (password) body.password = password;
        return usersApi.update(user.id, body);
      }
      const body: UserCreate = { email: email.trim(), name: name.trim(), role };
      if (password) body.password = password;
      if (platformAdmin) {
        body.org_id = orgId;
        if (makePlatformAdmin) body.is_platform_admin = true;
      }
      return usersApi.create(body);
    },
    onSuccess: (saved) => {
      qc.invalidateQueries({ queryKey: keys.usersAll });
      if (saved.id === me.id) qc.invalidateQueries({ queryKey: keys.me });
      onDone(saved);
    },
  });

  const { fields, showAlert } = splitErrors(save.error, USER_FIELDS);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      {showAlert ? <ErrorAlert error={save.error} showFieldErrors /> : null}
      <div className="form-grid">
        <TextField
          label="Email"
          name="email"
          type="email"
          required
          autoFocus={!user}
          autoComplete="off"
          value={email}
          disabled={!!user}
          onChange={(e) => setEmail(e.target.value)}
          error={fields.email}
        />
        <TextField
          label="Full name"
          name="name"
          autoFocus={!!user}
          maxLength={200}
          autoComplete="off"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fields.name}
        />
        <SelectField
          label="Role"
          name="role"
          value={role}
          disabled={user?.id === me.id}
          onChange={(e) => setRole(e.target.value as Role)}
          hint={user?.id === me.id ? "You cannot change your own role." : ROLE_HELP[role]}
          error={fields.role}
        >
          <RoleOptions roles={roles} />
        </SelectField>
        <TextField
          label={user ? "New password" : "Password"}
          name="password"
          type="password"
          optional
          minLength={8}
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          hint={user ? "Leave empty to keep the current password." : "At least 8 characters. Leave empty for people who sign in with SSO."}
          error={fields.password}
        />
        {platformAdmin && !user ? (
          <>
            <SelectField
              label="Organization"
              name="org_id"
              value={orgId}
              onChange={(e) => setOrgId(e.target.value)}
              error={fields.org_id}
            >
              {(orgOptions.data?.items ?? [me.org]).map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </SelectField>
            <div className="field" style={{ justifyContent: "center" }}>
              <Checkbox
                label="Platform administrator"
                description="Can manage every organization."
                checked={makePlatformAdmin}
                onChange={(e) => setMakePlatformAdmin(e.target.checked)}
                error={fields.is_platform_admin}
              />
            </div>
          </>
        ) : null}
      </div>
      <div className="form-actions">
        <Button onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          {user ? "Save changes" : "Create user"}
        </Button>
      </div>
    </form>
  );
}

function StatusBadges({ user }: { user: User }) {
  return (
    <div className="row" style={{ gap: 6 }}>
      {user.disabled ? (
        <Badge tone="danger" icon={<BanIcon />}>
          Disabled
        </Badge>
      ) : (
        <Badge tone="success" icon={<CheckCircleIcon />}>
          Active
        </Badge>
      )}
      {user.sso ? <Badge tone="info" icon={<LockIcon />}>SSO</Badge> : null}
      {user.is_platform_admin ? <Badge tone="warning">Platform admin</Badge> : null}
    </div>
  );
}

export function Component() {
  const { data: me } = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const filterId = useId();
  const platformAdmin = !!me?.is_platform_admin;
  const [orgFilter, setOrgFilter] = useState<string>("");
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<User | null>(null);
  const [disabling, setDisabling] = useState<User | null>(null);
  const orgOptions = useOrgOptions(platformAdmin);
  const orgNames = useMemo(
    () => new Map((orgOptions.data?.items ?? []).map((o) => [o.id, o.name])),
    [orgOptions.data],
  );

  const users = useInfiniteQuery({
    queryKey: keys.users(orgFilter || null),
    queryFn: ({ pageParam }) => usersApi.list({ cursor: pageParam, org_id: orgFilter || null }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: isAdmin(me),
  });

  const setDisabled = useMutation({
    mutationFn: ({ user, disabled }: { user: User; disabled: boolean }) =>
      usersApi.update(user.id, { disabled }),
    onSuccess: (user) => {
      qc.invalidateQueries({ queryKey: keys.usersAll });
      toast.success(
        user.disabled ? "User disabled" : "User enabled",
        user.disabled ? `${user.email} can no longer sign in.` : `${user.email} can sign in again.`,
      );
      setDisabling(null);
    },
    onError: (err) => toast.fromError(err, "Could not change the user"),
  });

  if (!me || !isAdmin(me)) return <NotAllowed what="users" />;
  const items = users.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <section className="card" aria-labelledby="users-title">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="users-title">
            People
          </h2>
          <p className="card__subtitle">
            {platformAdmin ? "Everyone on this DataMesh, by organization." : `Everyone in ${me.org.name}.`}
          </p>
        </div>
        <div className="toolbar">
          {platformAdmin ? (
            <>
              <label htmlFor={filterId} className="sr-only">
                Filter by organization
              </label>
              <select
                id={filterId}
                className="select"
                value={orgFilter}
                onChange={(e) => setOrgFilter(e.target.value)}
              >
                <option value="">All organizations</option>
                {(orgOptions.data?.items ?? []).map((o) => (
                  <option key={o.id} value={o.id}>
                    {o.name}
                  </option>
                ))}
              </select>
            </>
          ) : null}
          <Button variant="primary" onClick={() => setCreating(true)}>
            <PlusIcon /> New user
          </Button>
        </div>
      </div>
      <QueryList
        query={users}
        loading={<TableSkeleton rows={4} columns={5} label="Loading users" />}
        isEmpty={items.length === 0}
        empty={
          <EmptyState
            icon={<UsersIcon />}
            title="No users here yet"
            actions={
              <Button variant="primary" onClick={() => setCreating(true)}>
                <PlusIcon /> New user
              </Button>
            }
          >
            Add the people who should find and publish data in this organization.
          </EmptyState>
        }
      >
        <AdminTable columns={["User", "Role", "Status", ...(platformAdmin ? ["Organization"] : []), "Last sign-in"]}>
          {items.map((user) => (
            <tr key={user.id} data-testid="user-row">
              <td>
                <div className="identity">
                  <Avatar name={user.name || user.email} seed={user.id} />
                  <div className="identity__text">
                    <span className="cell-primary">
                      {user.name || <span className="subtle">No name</span>}
                      {user.id === me.id ? <span className="subtle"> (you)</span> : null}
                    </span>
                    <span className="cell-secondary">{user.email}</span>
                  </div>
                </div>
              </td>
              <td>
                <RoleBadge role={user.role} />
              </td>
              <td>
                <StatusBadges user={user} />
              </td>
              {platformAdmin ? <td className="muted">{orgNames.get(user.org_id) ?? "—"}</td> : null}
              <td className="muted">
                <Time iso={user.last_login_at} fallback="Never" />
              </td>
              <td className="actions">
                <Button size="sm" variant="ghost" onClick={() => setEditing(user)} aria-label={`Edit ${user.email}`}>
                  <EditIcon /> Edit
                </Button>
                {user.id !== me.id ? (
                  user.disabled ? (
                    <Button
                      size="sm"
                      variant="ghost"
                      onClick={() => setDisabled.mutate({ user, disabled: false })}
                      aria-label={`Enable ${user.email}`}
                    >
                      <CheckCircleIcon /> Enable
                    </Button>
                  ) : (
                    <Button
                      size="sm"
                      variant="danger-ghost"
                      onClick={() => setDisabling(user)}
                      aria-label={`Disable ${user.email}`}
                    >
                      <BanIcon /> Disable
                    </Button>
                  )
                ) : null}
              </td>
            </tr>
          ))}
        </AdminTable>
      </QueryList>
      <LoadMore query={users} />

      <Dialog
        open={creating}
        onClose={() => setCreating(false)}
        title="New user"
        description="They can sign in with this email and password, or through single sign-on."
      >
        <UserForm
          me={me}
          defaultOrgId={orgFilter || undefined}
          onCancel={() => setCreating(false)}
          onDone={(user) => {
            setCreating(false);
            toast.success("User created", `${user.email} can now sign in as ${roleLabel(user.role).toLowerCase()}.`);
          }}
        />
      </Dialog>
      <Dialog open={!!editing} onClose={() => setEditing(null)} title={`Edit ${editing?.name || editing?.email || ""}`}>
        {editing ? (
          <UserForm
            me={me}
            user={editing}
            onCancel={() => setEditing(null)}
            onDone={(user) => {
              setEditing(null);
              toast.success("User saved", `${user.email} was updated.`);
            }}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={!!disabling}
        title={`Disable ${disabling?.email ?? ""}?`}
        confirmLabel="Disable user"
        pending={setDisabled.isPending}
        onClose={() => setDisabling(null)}
        onConfirm={() => disabling && setDisabled.mutate({ user: disabling, disabled: true })}
      >
        They are signed out everywhere at once and cannot sign in until you enable them again. Their
        datasets and history stay.
      </ConfirmDialog>
    </section>
  );
}
