/**
 * Connect: working code for this dataset on your platform, filled in from one of your platform
 * profiles (or your default one), each artifact highlighted and one click to copy or download,
 * with an optional live connection test where the server offers one.
 *
 * Showing the code records nothing (GET); copying, downloading or testing is the connect the
 * dataset's followers hear about (POST), once an hour per person at most.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import { Link } from "react-router";
import {
  connectApi,
  connectBody,
  connectPlatform,
  profileKeys,
  profilesApi,
  type ConnectAction,
  type ConnectArtifact,
  type ConnectResult,
  type ConnectionTestResult,
  type PlatformProfile,
} from "../../api/connect";
import { isApiError } from "../../api/errors";
import { useMe } from "../../api/queries";
import type { Dataset, Me } from "../../api/types";
import { platformLabel } from "../../components/datasets";
import {
  CheckCircleIcon,
  CopyIcon,
  DownloadIcon,
  KeyIcon,
  PlayIcon,
  PlusIcon,
  ProfilesIcon,
  RefreshIcon,
  XCircleIcon,
} from "../../components/icons";
import { useToast } from "../../components/toasts";
import {
  Alert,
  Badge,
  Button,
  EmptyState,
  ErrorAlert,
  Skeleton,
  TabPanel,
  Tabs,
  buttonClass,
  copyText,
} from "../../components/ui";
import { highlightHtml, kindLabel } from "../../lib/highlight";
import { downloadText } from "../../lib/lineage";
import "./connect.css";

const TEST_ROLES = ["producer", "steward", "admin"];

function canTest(me: Me | null | undefined): boolean {
  return !!me && (TEST_ROLES.includes(me.role) || me.is_platform_admin);
}

function profileLabel(p: PlatformProfile): string {
  const scope = p.scope === "org" ? "org-wide" : "yours";
  return `${p.name} (${scope}${p.is_default ? ", default" : ""})`;
}

/** The server's note that no profile was used (the panel says it with a link instead). */
const NO_PROFILE = /^You have no /;

/** The copy button of one artifact: copies the code as generated, says so in a toast. */
function CopyArtifact({ artifact, onCopied }: { artifact: ConnectArtifact; onCopied: () => void }) {
  const toast = useToast();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await copyText(artifact.content);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 2000);
      onCopied();
    } catch (err) {
      toast.fromError(err, "Could not copy");
    }
  };
  return (
    <Button size="sm" variant="primary" onClick={copy} aria-label={`Copy ${artifact.filename}`}>
      {copied ? <CheckCircleIcon /> : <CopyIcon />}
      <span aria-live="polite">{copied ? "Copied" : "Copy"}</span>
    </Button>
  );
}

function Code({ artifact }: { artifact: ConnectArtifact }) {
  const html = useMemo(() => highlightHtml(artifact.content, artifact.language), [artifact.content, artifact.language]);
  return (
    <pre className="code-card__pre" aria-label={`${artifact.filename}, ${artifact.language} code`}>
      {/* highlight.js escapes the code it wraps (see lib/highlight). */}
      <code className={`hljs language-${artifact.language}`} dangerouslySetInnerHTML={{ __html: html }} />
    </pre>
  );
}

function TestBox({ result }: { result: ConnectionTestResult }) {
  const latency = result.latency_ms != null ? ` · ${Math.round(result.latency_ms)} ms` : "";
  return (
    <div
      className={`test-result test-result--${result.ok ? "ok" : "error"}`}
      role={result.ok ? "status" : "alert"}
      data-testid="connect-test-result"
    >
      {result.ok ? <CheckCircleIcon /> : <XCircleIcon />}
      <div>
        <div className="test-result__title">{result.ok ? `Connection OK${latency}` : `Connection failed${latency}`}</div>
        <div className="test-result__detail">{result.message}</div>
      </div>
    </div>
  );
}

function ArtifactsSkeleton() {
  return (
    <div className="code-card" aria-hidden="true">
      <div className="code-card__head">
        <Skeleton width={160} height={14} />
      </div>
      <div className="card__body" style={{ display: "grid", gap: 10 }}>
        {[70, 55, 85, 40, 65, 30].map((w, i) => (
          <Skeleton key={i} width={`${w}%`} />
        ))}
      </div>
    </div>
  );
}

type OnAction = (action: Exclude<ConnectAction, "test">, artifact: ConnectArtifact) => void;

function DownloadArtifact({ artifact, onDownloaded }: { artifact: ConnectArtifact; onDownloaded: () => void }) {
  return (
    <Button
      size="sm"
      variant="ghost"
      onClick={() => {
        downloadText(artifact.content, artifact.filename, "text/plain;charset=utf-8");
        onDownloaded();
      }}
      aria-label={`Download ${artifact.filename}`}
    >
      <DownloadIcon /> <span>Download</span>
    </Button>
  );
}

function Artifacts({
  result,
  datasetName,
  onAction,
}: {
  result: ConnectResult;
  datasetName: string;
  onAction: OnAction;
}) {
  const toast = useToast();
  const [kind, setKind] = useState<string>(result.artifacts[0]?.kind ?? "");
  const current = result.artifacts.find((a) => a.kind === kind) ?? result.artifacts[0];
  if (!current) {
    return (
      <EmptyState icon={<ProfilesIcon />} title="No code for this selection">
        Connect has no artifact for this dataset and profile.
      </EmptyState>
    );
  }
  const lines = current.content.split("\n").length;
  return (
    <section className="code-card" aria-label="Generated code" data-testid="connect-artifact" data-kind={current.kind}>
      <div className="code-card__head">
        <Tabs
          label="Artifacts"
          idPrefix="connect"
          tabs={result.artifacts.map((a) => ({ id: a.kind, label: kindLabel(a.kind) }))}
          value={current.kind}
          onChange={setKind}
        />
        <span className="code-card__file mono" title={`${lines} lines`}>
          {current.filename}
        </span>
        <DownloadArtifact artifact={current} onDownloaded={() => onAction("download", current)} />
        <CopyArtifact
          key={current.kind}
          artifact={current}
          onCopied={() => {
            toast.success("Copied to clipboard", `${current.filename} for ${datasetName}.`);
            onAction("copy", current);
          }}
        />
      </div>
      <TabPanel idPrefix="connect" id={current.kind}>
        <Code artifact={current} />
      </TabPanel>
    </section>
  );
}

export function ConnectPanel({ ds, title }: { ds: Dataset; title: string }) {
  const { data: me } = useMe();
  const platform = connectPlatform(ds.platform);
  const selectId = useId();
  // "" lets the server choose: your default profile for the platform, else your org's.
  const [profileId, setProfileId] = useState("");
  const [tested, setTested] = useState<ConnectResult | null>(null);

  const profiles = useQuery({
    queryKey: profileKeys.list(platform),
    queryFn: ({ signal }) => profilesApi.list({ platform }, signal),
    enabled: !!platform,
  });

  // Showing the code is not a connect: the preview records nothing.
  const code = useQuery({
    queryKey: ["connect", ds.id, profileId],
    queryFn: ({ signal }) => connectApi.preview(ds.id, profileId || null, signal),
    enabled: !!platform,
    staleTime: Infinity,
    gcTime: 5 * 60_000,
    retry: false,
  });

  const test = useMutation({
    mutationFn: () => connectApi.connect(ds.id, connectBody("test", profileId || null)),
    onSuccess: setTested,
  });

  // Copying or downloading an artifact is the connect (audited; followers see it once an hour).
  // It is a record of what happened: the code is already in hand, so a failure stays quiet.
  const record = useMutation({
    mutationFn: ({ action, kind }: { action: Exclude<ConnectAction, "test">; kind: string }) =>
      connectApi.connect(ds.id, connectBody(action, profileId || null, kind)),
  });

  if (!platform) {
    return (
      <div className="card">
        <EmptyState icon={<ProfilesIcon />} title={`No Connect code for ${platformLabel(ds.platform)} yet`}>
          Connect writes code for Snowflake, Databricks, BigQuery, Redshift and PostgreSQL datasets. Ask the
          owners how to reach this one.
        </EmptyState>
      </div>
    );
  }

  const items = profiles.data?.items ?? [];
  const result = tested && tested.profile_id === (code.data?.profile_id ?? null) ? tested : code.data;
  const used = result?.profile_id ? items.find((p) => p.id === result.profile_id) : undefined;
  const label = platformLabel(platform);
  const newProfileHref = `/profiles?new=${encodeURIComponent(platform)}`;
  const warnings = result?.warnings ?? [];
  const noProfile = !!result && !result.profile_id;
  const testAllowed = canTest(me);

  return (
    <section className="card connect" aria-labelledby="connect-heading">
      <div className="card__header connect__header">
        <div>
          <h2 className="card__title" id="connect-heading">
            Connect to {title} from {label}
          </h2>
          <p className="card__subtitle">
            Code that runs as-is with your profile's settings. Secrets stay references: the code reads them from
            where they live.
          </p>
        </div>
        <Link to="/profiles" className={buttonClass({ variant: "ghost", size: "sm" })}>
          <ProfilesIcon /> Manage profiles
        </Link>
      </div>
      <div className="card__body stack">
        <div className="connect__toolbar">
          <div className="field connect__profile">
            <label className="field__label" htmlFor={selectId}>
              Profile
            </label>
            <select
              id={selectId}
              className="select"
              value={profileId}
              onChange={(e) => {
                setProfileId(e.target.value);
                setTested(null);
                test.reset();
              }}
              disabled={profiles.isPending}
            >
              <option value="">{items.length ? `Your default ${label} profile` : "No profile yet (defaults)"}</option>
              {items.map((p) => (
                <option key={p.id} value={p.id}>
                  {profileLabel(p)}
                </option>
              ))}
            </select>
          </div>
          <div className="connect__used" aria-live="polite">
            {code.isFetching ? (
              <span className="muted">Generating…</span>
            ) : used ? (
              <span className="muted">
                Using <strong>{used.name}</strong> {used.scope === "org" ? <Badge tone="info">Org-wide</Badge> : <Badge>Yours</Badge>}
              </span>
            ) : noProfile ? (
              <span className="muted">No profile used</span>
            ) : null}
          </div>
          <div className="connect__actions">
            <Button
              onClick={() => test.mutate()}
              loading={test.isPending}
              disabled={!testAllowed || !result || noProfile}
              title={
                !testAllowed
                  ? "Connection tests need the producer, steward or admin role"
                  : noProfile
                    ? `A test needs a ${label} profile`
                    : undefined
              }
            >
              <PlayIcon /> Test connection
            </Button>
          </div>
        </div>

        {test.error ? <ErrorAlert error={test.error} /> : null}
        {tested?.connection_test ? <TestBox result={tested.connection_test} /> : null}

        {noProfile ? (
          <Alert
            tone="info"
            title={`You have no ${label} profile yet`}
            actions={
              <Link to={newProfileHref} className={buttonClass({ variant: "primary", size: "sm" })}>
                <PlusIcon /> Create a {label} profile
              </Link>
            }
          >
            The code reads the settings it lacks from environment variables named in it. With a profile, they are
            filled in.
          </Alert>
        ) : null}
        {warnings
          .filter((w) => !(noProfile && NO_PROFILE.test(w)))
          .map((w) => (
            <Alert key={w} tone="warning">
              {w}
            </Alert>
          ))}

        {code.isPending ? (
          <ArtifactsSkeleton />
        ) : code.isError ? (
          <ConnectError error={code.error} profilesHref={newProfileHref} onRetry={() => code.refetch()} retrying={code.isFetching} />
        ) : result ? (
          <Artifacts
            result={result}
            datasetName={title}
            onAction={(action, artifact) => record.mutate({ action, kind: artifact.kind })}
          />
        ) : null}
        {result ? (
          <p className="field__hint connect__note">
            <KeyIcon /> Nothing secret is in this code: it names where each secret is read from (an environment
            variable, a file or your vault).
          </p>
        ) : null}
      </div>
    </section>
  );
}

function ConnectError({
  error,
  profilesHref,
  onRetry,
  retrying,
}: {
  error: unknown;
  profilesHref: string;
  onRetry: () => void;
  retrying: boolean;
}) {
  if (isApiError(error) && error.status === 422) {
    // The chosen profile cannot be used for this dataset: the fix is in the profile.
    return (
      <Alert
        tone="danger"
        title="This profile cannot be used here"
        actions={
          <Link to={profilesHref.replace(/\?.*$/, "")} className={buttonClass({ size: "sm" })}>
            <ProfilesIcon /> Open profiles
          </Link>
        }
      >
        {error.detail}
      </Alert>
    );
  }
  if (isApiError(error) && error.status === 409) {
    return (
      <Alert tone="warning" title="Connect cannot write code for this dataset yet">
        {error.detail}
      </Alert>
    );
  }
  return (
    <Alert
      tone="danger"
      title="Could not generate the code"
      actions={
        <Button size="sm" onClick={onRetry} loading={retrying}>
          <RefreshIcon /> Try again
        </Button>
      }
    >
      {isApiError(error) ? error.detail || error.title : String(error)}
    </Alert>
  );
}
