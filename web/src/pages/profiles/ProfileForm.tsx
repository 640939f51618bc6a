/**
 * Create or edit a platform profile. The settings form comes from the JSON Schema of the
 * platform's connector type; secrets are entered as references (env:, file:, vault:) and only
 * references are ever sent or shown. Server field errors land next to their fields.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import {
  profileKeys,
  profilesApi,
  type PlatformProfile,
  type PlatformProfileCreate,
  type PlatformProfileUpdate,
  type ProfileScope,
} from "../../api/connect";
import { isApiError } from "../../api/errors";
import type { Connector, Me } from "../../api/types";
import { PlatformTile } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { SchemaSettings, useSchemaSettings } from "../../components/SchemaSettings";
import { useToast } from "../../components/toasts";
import { Checkbox, ErrorAlert, Button, SelectField, TextField } from "../../components/ui";
import { mergePatch } from "../../lib/jsonSchemaForm";

export function canManageOrgProfiles(me: Me | null | undefined): boolean {
  return !!me && (me.role === "admin" || me.is_platform_admin);
}

export function canEditProfile(me: Me | null | undefined, p: PlatformProfile): boolean {
  return p.scope === "user" ? true : canManageOrgProfiles(me);
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
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const settings = useSchemaSettings(
    platform,
    "settings",
    profile ? { type: profile.platform, config: profile.settings, secrets: profile.secrets } : null,
  );

  const save = useMutation({
    mutationFn: async () => {
      const { config, secrets: refs, errors: errs } = settings.collect();
      if (!name.trim()) errs.name = "Give the profile a name.";
      if (!platform) errs.platform = "Choose a platform.";
      setClientErrors(errs);
      if (Object.keys(errs).length) throw new Error("invalid");
      if (!profile) {
        const body: PlatformProfileCreate = { name: name.trim(), platform, settings: config, secrets: refs, scope, is_default: isDefault };
        return profilesApi.create(body);
      }
      const body: PlatformProfileUpdate = {
        name: name.trim(),
        settings: mergePatch(config, profile.settings),
        secrets: mergePatch(refs, profile.secrets),
      };
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
  const { placed: serverFields, unplaced } = settings.placeErrors(save.error, (key) =>
    ["name", "platform", "scope", "is_default"].includes(key),
  );
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
              settings.clearSecrets();
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

      <SchemaSettings
        settings={settings}
        err={err}
        secretsHint="The generated code reads the secret from there; DataMesh never stores it."
      />

      <div className="form-actions">
        <Button onClick={onClose}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending} disabled={!platform}>
          {profile ? "Save changes" : "Create profile"}
        </Button>
      </div>
    </form>
  );
}
