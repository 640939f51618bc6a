/**
 * Create or edit a platform profile. The settings form comes from the JSON Schema of the
 * platform's connector type; secrets are entered as references (env:, file:, vault:) and only
 * references are ever sent or shown. Server field errors land next to their fields.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import {
  profileKeys,
  profilesApi,
  type PlatformProfile,
  type PlatformProfileCreate,
  type PlatformProfileUpdate,
  type ProfileScope,
} from "../../api/connect";
import { connectorsApi } from "../../api/endpoints";
import { isApiError } from "../../api/errors";
import type { Connector, Me } from "../../api/types";
import { PlatformTile } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { KeyIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import { Checkbox, ErrorAlert, Button, SelectField, Skeleton, TextField } from "../../components/ui";
import {
  SECRET_REF_HINT,
  fieldsFromSchema,
  initialValues,
  secretErrors,
  toConfig,
  type FormValues,
} from "../../lib/jsonSchemaForm";
import { SchemaField } from "../nodes/NodeForm";

export function canManageOrgProfiles(me: Me | null | undefined): boolean {
  return !!me && (me.role === "admin" || me.is_platform_admin);
}

export function canEditProfile(me: Me | null | undefined, p: PlatformProfile): boolean {
  return p.scope === "user" ? true : canManageOrgProfiles(me);
}

/** Where a server error belongs: `settings.headers.X` → `settings.headers`. */
export function profileErrorKey(field: string): string {
  const parts = field.split(".");
  if ((parts[0] === "settings" || parts[0] === "secrets") && parts.length > 2) return `${parts[0]}.${parts[1]}`;
  return field;
}

function humanise(name: string): string {
  return name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function ProfileFormDialog({
  open,
  profile,
  platforms,
  initialPlatform,
  me,
  onClose,
}: {
  open: boolean;
  profile: PlatformProfile | null;
  platforms: Connector[];
  initialPlatform?: string;
  me: Me | null | undefined;
  onClose: () => void;
}) {
  return (
    <Dialog
      open={open}
      onClose={onClose}
      size="lg"
      title={profile ? `Edit ${profile.name}` : "New platform profile"}
      description="Connect fills its code in from these settings. Secrets stay where they live: enter a reference to each."
    >
      {open ? (
        <ProfileForm profile={profile} platforms={platforms} initialPlatform={initialPlatform} me={me} onClose={onClose} />
      ) : null}
    </Dialog>
  );
}

function ProfileForm({
  profile,
  platforms,
  initialPlatform,
  me,
  onClose,
}: {
  profile: PlatformProfile | null;
  platforms: Connector[];
  initialPlatform?: string;
  me: Me | null | undefined;
  onClose: () => void;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const [platform, setPlatform] = useState(
    profile?.platform ?? (platforms.some((c) => c.type === initialPlatform) ? (initialPlatform ?? "") : (platforms[0]?.type ?? "")),
  );
  const [name, setName] = useState(profile?.name ?? "");
  const [scope, setScope] = useState<ProfileScope>(profile?.scope ?? "user");
  // null on a new profile: the server makes the first profile of a platform its default.
  const [isDefault, setIsDefault] = useState<boolean | null>(profile ? profile.is_default : null);
  const [values, setValues] = useState<FormValues>({});
  const [secrets, setSecrets] = useState<Record<string, string>>({ ...(profile?.secrets ?? {}) });
  const [seeded, setSeeded] = useState<string | null>(null);
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});

  const detail = useQuery({
    queryKey: ["connectors", platform],
    queryFn: ({ signal }) => connectorsApi.get(platform, signal),
    enabled: !!platform,
    staleTime: 10 * 60_000,
  });
  const fields = fieldsFromSchema(detail.data?.config_schema);
  const secretFields = detail.data?.secret_fields ?? [];

  // Fill the form once the platform's schema is known (and again if the platform changes).
  if (detail.data && seeded !== platform) {
    setSeeded(platform);
    setValues(initialValues(fieldsFromSchema(detail.data.config_schema), profile?.platform === platform ? profile.settings : {}));
  }

  const save = useMutation({
    mutationFn: async () => {
      const { config, errors } = toConfig(fields, values);
      const errs: Record<string, string> = {};
      for (const [k, v] of Object.entries(errors)) errs[`settings.${k}`] = v;
      for (const [k, v] of Object.entries(secretErrors(secrets))) errs[`secrets.${k}`] = v;
      if (!name.trim()) errs.name = "Give the profile a name.";
      if (!platform) errs.platform = "Choose a platform.";
      setClientErrors(errs);
      if (Object.keys(errs).length) throw new Error("invalid");
      const refs = Object.fromEntries(
        Object.entries(secrets)
          .map(([k, v]) => [k, v.trim()] as const)
          .filter(([, v]) => v),
      );
      if (!profile) {
        const body: PlatformProfileCreate = { name: name.trim(), platform, settings: config, secrets: refs, scope, is_default: isDefault };
        return profilesApi.create(body);
      }
      // PATCH merges: settings and references that are gone are sent as null.
      const settings: Record<string, unknown> = { ...config };
      for (const k of Object.keys(profile.settings)) if (!(k in config)) settings[k] = null;
      const secretPatch: Record<string, string | null> = { ...refs };
      for (const k of Object.keys(profile.secrets)) if (!(k in refs)) secretPatch[k] = null;
      const body: PlatformProfileUpdate = { name: name.trim(), settings, secrets: secretPatch };
      if (isDefault !== null && isDefault !== profile.is_default) body.is_default = isDefault;
      return profilesApi.update(profile.id, body);
    },
    onSuccess: (saved) => {
      void qc.invalidateQueries({ queryKey: profileKeys.all });
      void qc.invalidateQueries({ queryKey: ["connect"] });
      toast.success(profile ? "Profile saved" : "Profile created", `${saved.name} is ready for Connect.`);
      onClose();
    },
  });

  // Server messages next to their fields; whatever has no field goes in the alert.
  const serverFields: Record<string, string> = {};
  let unplaced = false;
  if (isApiError(save.error)) {
    for (const e of save.error.errors) {
      const key = profileErrorKey(e.field);
      const known =
        ["name", "platform", "scope", "is_default"].includes(key) ||
        (key.startsWith("settings.") && fields.some((f) => `settings.${f.key}` === key)) ||
        (key.startsWith("secrets.") && secretFields.some((f) => `secrets.${f.name}` === key));
      const label = e.field !== key ? `${e.field.slice(key.length + 1)}: ${e.msg}` : e.msg;
      if (known) serverFields[key] ??= label;
      else unplaced = true;
    }
    if (!save.error.errors.length) unplaced = true;
  }
  const err = (key: string) => clientErrors[key] ?? serverFields[key];
  const orgAdmin = canManageOrgProfiles(me);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="form" onSubmit={submit} noValidate aria-label={profile ? "Edit profile" : "New profile"}>
      {isApiError(save.error) && unplaced ? <ErrorAlert error={save.error} showFieldErrors /> : null}
      <div className="form-grid">
        <TextField
          label="Name"
          name="name"
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={err("name")}
          placeholder="e.g. Analytics warehouse"
        />
        {profile ? (
          <div className="field">
            <span className="field__label">Platform</span>
            <div className="row" style={{ minHeight: 36 }}>
              <PlatformTile platform={profile.platform} size={28} />
              <strong>{platforms.find((c) => c.type === profile.platform)?.title ?? profile.platform}</strong>
              <span className="subtle">(cannot be changed)</span>
            </div>
          </div>
        ) : (
          <SelectField
            label="Platform"
            name="platform"
            value={platform}
            onChange={(e) => {
              setPlatform(e.target.value);
              setSecrets({});
              setClientErrors({});
            }}
            error={err("platform")}
          >
            {platforms.map((c) => (
              <option key={c.type} value={c.type}>
                {c.title}
              </option>
            ))}
          </SelectField>
        )}
        {profile ? null : (
          <SelectField
            label="Who uses it"
            name="scope"
            value={scope}
            onChange={(e) => setScope(e.target.value as ProfileScope)}
            disabled={!orgAdmin}
            error={err("scope")}
            hint={orgAdmin ? "Org-wide profiles serve every member without one of their own." : "Only org admins create org-wide profiles."}
          >
            <option value="user">Just me</option>
            <option value="org">Everyone in {me?.org.name ?? "my organization"}</option>
          </SelectField>
        )}
        <div className="field" style={{ alignSelf: "end" }}>
          <Checkbox
            label="Default for this platform"
            description={
              profile ? "Connect uses it when you do not pick a profile." : "Connect uses it when you do not pick one; your first profile of a platform is its default."
            }
            name="is_default"
            checked={isDefault === true}
            onChange={(e) => setIsDefault(e.target.checked)}
            error={err("is_default")}
          />
        </div>
      </div>

      {platform ? (
        detail.isPending ? (
          <div style={{ display: "grid", gap: 10 }} aria-hidden="true">
            <Skeleton width="30%" />
            <Skeleton height={36} />
            <Skeleton height={36} />
          </div>
        ) : detail.isError ? (
          <ErrorAlert error={detail.error} onRetry={() => detail.refetch()} />
        ) : (
          <>
            <section className="form-section" aria-labelledby="profile-settings-heading">
              <h3 className="form-section__title" id="profile-settings-heading">
                Settings
              </h3>
              <div className="form-grid">
                {fields.map((f) => (
                  <SchemaField
                    key={f.key}
                    field={f}
                    value={values[f.key]}
                    onChange={(v) => setValues((all) => ({ ...all, [f.key]: v }))}
                    error={err(`settings.${f.key}`)}
                  />
                ))}
              </div>
            </section>
            {secretFields.length ? (
              <section className="form-section" aria-labelledby="profile-secrets-heading">
                <h3 className="form-section__title" id="profile-secrets-heading">
                  <KeyIcon /> Secrets
                </h3>
                <p className="form-section__hint">
                  {SECRET_REF_HINT}. The generated code reads the secret from there; DataMesh never stores it.
                </p>
                <div className="form-grid">
                  {secretFields.map((s) => (
                    <TextField
                      key={s.name}
                      label={humanise(s.name)}
                      name={`secrets.${s.name}`}
                      optional={!s.required}
                      mono
                      spellCheck={false}
                      autoComplete="off"
                      placeholder={`env:${platform.toUpperCase()}_${s.name.toUpperCase()}`}
                      hint={s.description}
                      value={secrets[s.name] ?? ""}
                      onChange={(e) => setSecrets((all) => ({ ...all, [s.name]: e.target.value }))}
                      error={err(`secrets.${s.name}`)}
                    />
                  ))}
                </div>
              </section>
            ) : null}
          </>
        )
      ) : null}

      <div className="form-actions">
        <Button onClick={onClose}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending} disabled={!platform}>
          {profile ? "Save changes" : "Create profile"}
        </Button>
      </div>
    </form>
  );
}
