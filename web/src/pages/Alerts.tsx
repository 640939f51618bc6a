/** Alerts: rules that send what happens (with its blast radius) to a webhook, Slack or e-mail;
 * a live "Send test", the delivery log of each rule and Redeliver. `?new=1&affects=<id>&name=`
 * (from "Alert me" on a dataset page) opens the form prefilled. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { ALERT_EVENTS, alertKeys, alertsApi, type AlertRule, type Delivery, type TestResult } from "../api/alerts";
import { isApiError } from "../api/errors";
import { useMe } from "../api/queries";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { BellIcon, PlusIcon, TrashIcon } from "../components/icons";
import { useToast } from "../components/toasts";
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  EmptyState,
  ErrorAlert,
  PageHeader,
  QueryList,
  SelectField,
  TableSkeleton,
  TextField,
  Time,
  type Tone,
} from "../components/ui";
import "./alerts.css";

const STATE_TONE: Record<Delivery["state"], Tone> = {
  pending: "info",
  delivered: "success",
  failed: "danger",
  skipped: "neutral",
};

function channelTarget(rule: AlertRule): string {
  const ch = rule.channel;
  if (ch.kind === "email") return (ch.to ?? []).join(", ");
  return ch.url ?? "";
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function TestOutcome({ result }: { result: TestResult }) {
  return result.ok ? (
    <Alert tone="success" title="Test delivered">
      The receiver answered {result.status_code ?? "OK"} in {result.ms ?? 0} ms.
    </Alert>
  ) : (
    <Alert tone="danger" title="Test failed">
      {result.error ?? "The receiver did not accept it."}
    </Alert>
  );
}

function RuleForm({ onClose, affects, initialName }: { onClose: () => void; affects: string; initialName: string }) {
  const { data: me } = useMe();
  const qc = useQueryClient();
  const governs = !!me && (me.role === "admin" || me.role === "steward" || me.is_platform_admin);
  const [name, setName] = useState(initialName);
  const [events, setEvents] = useState<string[]>(
    affects ? ["process.run_failed", "dataset.sla_breached", "dataset.schema_changed"] : ["process.run_failed"],
  );
  const [kind, setKind] = useState<"webhook" | "slack" | "email">("webhook");
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState("");
  const [to, setTo] = useState(me?.email ?? "");
  const [node, setNode] = useState(affects);
  const [depth, setDepth] = useState(5);
  const [tags, setTags] = useState("");
  const [ownedByMe, setOwnedByMe] = useState(false);
  const [followedByMe, setFollowedByMe] = useState(false);
  const [orgRule, setOrgRule] = useState(false);
  const [saved, setSaved] = useState<AlertRule | null>(null);

  const save = useMutation({
    mutationFn: () =>
      alertsApi.create({
        name,
        events,
        org_rule: orgRule,
        enabled: true,
        channel:
          kind === "email"
            ? { kind, to: list(to) }
            : kind === "slack"
              ? { kind, url }
              : { kind, url, secret: secret.trim() || null },
        scope: {
          affects: node.trim() ? { node: node.trim(), depth } : null,
          tags: list(tags),
          owned_by_me: ownedByMe,
          followed_by_me: followedByMe,
        },
      }),
    onSuccess: (rule) => {
      setSaved(rule);
      void qc.invalidateQueries({ queryKey: alertKeys.all });
    },
  });
  const test = useMutation({ mutationFn: (id: string) => alertsApi.test(id) });

  const errors = isApiError(save.error) ? save.error.fieldErrors : {};
  const err = (suffix: string) => Object.entries(errors).find(([k]) => k.endsWith(suffix))?.[1];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  if (saved) {
    return (
      <div className="form">
        <Alert tone="success" title={`“${saved.name}” is on`}>
          It sends what it matches from now on. Send a test to check the channel.
        </Alert>
        {test.data ? <TestOutcome result={test.data} /> : null}
        {test.error ? <ErrorAlert error={test.error} /> : null}
        <div className="form-actions">
          <Button onClick={onClose}>Done</Button>
          <Button variant="primary" loading={test.isPending} onClick={() => test.mutate(saved.id)}>
            Send test
          </Button>
        </div>
      </div>
    );
  }

  return (
    <form className="form" onSubmit={submit} noValidate aria-label="New alert rule">
      {save.error && !Object.keys(errors).length ? <ErrorAlert error={save.error} /> : null}
      {save.error && Object.keys(errors).length ? (
        <Alert tone="danger" title="Check the form">
          {Object.values(errors).join(" ")}
        </Alert>
      ) : null}
      <div className="form-grid">
        <TextField label="Name" name="name" autoFocus value={name} onChange={(e) => setName(e.target.value)} error={err("name")} />
        <SelectField label="Send to" name="kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
          <option value="webhook">Webhook</option>
          <option value="slack">Slack (incoming webhook)</option>
          <option value="email">E-mail</option>
        </SelectField>
        {kind === "email" ? (
          <TextField
            label="Recipients"
            name="to"
            wide
            value={to}
            onChange={(e) => setTo(e.target.value)}
            hint="Comma-separated addresses"
            error={err("to") ?? err("to.0")}
          />
        ) : (
          <TextField
            label="URL"
            name="url"
            wide
            mono
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder={kind === "slack" ? "https://hooks.slack.com/services/…" : "https://hooks.example.com/datamesh"}
            error={err("channel.url") ?? err("url")}
          />
        )}
        {kind === "webhook" ? (
          <TextField
            label="Signing secret"
            name="secret"
            optional
            mono
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
            placeholder="env:ALERT_HOOK_SECRET"
            hint="A reference (env:, file:, vault:), never the secret itself"
            error={err("secret")}
          />
        ) : null}
      </div>
      <fieldset className="field field--wide">
        <legend className="field__label">Events</legend>
        <div className="alert-events">
          {ALERT_EVENTS.map((ev) => (
            <Checkbox
              key={ev.type}
              label={ev.label}
              description={ev.type}
              checked={events.includes(ev.type)}
              onChange={(e) =>
                setEvents((prev) => (e.target.checked ? [...prev, ev.type] : prev.filter((t) => t !== ev.type)))
              }
            />
          ))}
        </div>
        {err("events") ? <div className="field__error">{err("events")}</div> : null}
      </fieldset>
      <div className="form-grid">
        <TextField
          label="Affects"
          name="affects"
          optional
          mono
          value={node}
          onChange={(e) => setNode(e.target.value)}
          hint="A dataset or process: events on it or anything upstream of it"
          error={err("affects.node")}
        />
        <TextField
          label="Upstream depth"
          name="depth"
          type="number"
          min={1}
          max={20}
          value={depth}
          onChange={(e) => setDepth(Number(e.target.value) || 1)}
        />
        <TextField label="Tags" name="tags" optional value={tags} onChange={(e) => setTags(e.target.value)} hint="Comma-separated" />
        <div className="field">
          <Checkbox label="Datasets I own" checked={ownedByMe} onChange={(e) => setOwnedByMe(e.target.checked)} disabled={orgRule} />
          <Checkbox label="Datasets I follow" checked={followedByMe} onChange={(e) => setFollowedByMe(e.target.checked)} disabled={orgRule} />
          {governs ? (
            <Checkbox
              label="Org rule"
              description="For the whole organization (admins and stewards manage it)"
              checked={orgRule}
              onChange={(e) => {
                setOrgRule(e.target.checked);
                setOwnedByMe(false);
                setFollowedByMe(false);
              }}
            />
          ) : null}
        </div>
      </div>
      <div className="form-actions">
        <Button onClick={onClose}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending} disabled={!events.length || !name.trim()}>
          Create rule
        </Button>
      </div>
    </form>
  );
}

function DeliveryLog({ rule }: { rule: AlertRule }) {
  const qc = useQueryClient();
  const toast = useToast();
  const log = useQuery({
    queryKey: alertKeys.deliveries(rule.id),
    queryFn: ({ signal }) => alertsApi.deliveries(rule.id, signal),
    refetchInterval: 5000,
  });
  const redeliver = useMutation({
    mutationFn: (d: Delivery) => alertsApi.redeliver(rule.id, d.id),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: alertKeys.deliveries(rule.id) });
      toast.success("Queued again", "The delivery goes out again with the same id.");
    },
    onError: (err) => toast.fromError(err, "Could not redeliver"),
  });
  const items = log.data?.items ?? [];
  return (
    <QueryList
      query={log}
      loading={<TableSkeleton rows={3} columns={5} label="Loading deliveries" />}
      isEmpty={!items.length}
      empty={<p className="subtle alert-log__empty">Nothing sent yet.</p>}
    >
      <table className="table alert-log" aria-label={`Deliveries of ${rule.name}`}>
        <thead>
          <tr>
            <th>When</th>
            <th>What</th>
            <th>State</th>
            <th>Attempts</th>
            <th>Last answer</th>
            <th><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => {
            const last = d.log[d.log.length - 1];
            return (
              <tr key={d.id}>
                <td>
                  <Time iso={d.created_at} />
                </td>
                <td>
                  {d.kind === "test"
                    ? "Test"
                    : d.kind === "digest"
                      ? `Digest of ${d.events.length}`
                      : (d.events[0]?.subject.name as string | undefined) ?? d.events[0]?.type ?? "—"}
                  {d.kind === "single" && d.events[0] ? <div className="subtle mono">{d.events[0].type}</div> : null}
                </td>
                <td>
                  <Badge tone={STATE_TONE[d.state]}>{d.state}</Badge>
                </td>
                <td>{d.attempts}</td>
                <td className="mono">{last ? (last.error ?? last.status_code ?? "") : ""}</td>
                <td>
                  {d.state === "failed" || d.state === "delivered" ? (
                    <Button size="sm" loading={redeliver.isPending && redeliver.variables?.id === d.id} onClick={() => redeliver.mutate(d)}>
                      Redeliver
                    </Button>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </QueryList>
  );
}

function RuleCard({ rule, onDelete }: { rule: AlertRule; onDelete: (r: AlertRule) => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const test = useMutation({ mutationFn: () => alertsApi.test(rule.id), onSettled: () => qc.invalidateQueries({ queryKey: alertKeys.deliveries(rule.id) }) });
  const toggle = useMutation({
    mutationFn: () => alertsApi.update(rule.id, { enabled: !rule.enabled }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: alertKeys.all }),
    onError: (err) => toast.fromError(err, "Could not change the rule"),
  });
  return (
    <li className="card alert-rule">
      <div className="alert-rule__head">
        <div>
          <h3 className="alert-rule__name">
            {rule.name} {rule.org_rule ? <Badge tone="primary">org</Badge> : null}{" "}
            {rule.enabled ? <Badge tone="success">on</Badge> : <Badge tone="warning">off</Badge>}
          </h3>
          <div className="subtle">
            {rule.channel.kind} → <span className="mono">{channelTarget(rule)}</span>
          </div>
          <div className="row alert-rule__events">
            {rule.events.map((t) => (
              <span key={t} className="tag">
                {t}
              </span>
            ))}
          </div>
          {rule.disabled_reason ? <div className="field__error">Turned off: {rule.disabled_reason}</div> : null}
        </div>
        <div className="row">
          <Button size="sm" loading={test.isPending} onClick={() => test.mutate()}>
            Send test
          </Button>
          <Button size="sm" loading={toggle.isPending} onClick={() => toggle.mutate()}>
            {rule.enabled ? "Turn off" : "Turn on"}
          </Button>
          <Button size="sm" onClick={() => setOpen((v) => !v)} aria-expanded={open}>
            Delivery log
          </Button>
          <Button size="sm" variant="danger-ghost" icon aria-label={`Delete ${rule.name}`} onClick={() => onDelete(rule)}>
            <TrashIcon />
          </Button>
        </div>
      </div>
      {test.data ? <TestOutcome result={test.data} /> : null}
      {open ? <DeliveryLog rule={rule} /> : null}
    </li>
  );
}

export function Component() {
  const qc = useQueryClient();
  const toast = useToast();
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(params.get("new") !== null);
  const [deleting, setDeleting] = useState<AlertRule | null>(null);
  const rules = useQuery({ queryKey: alertKeys.list, queryFn: ({ signal }) => alertsApi.list(signal) });
  const remove = useMutation({
    mutationFn: (r: AlertRule) => alertsApi.remove(r.id),
    onSuccess: (_, r) => {
      void qc.invalidateQueries({ queryKey: alertKeys.all });
      toast.success("Rule deleted", `${r.name} sends nothing more.`);
      setDeleting(null);
    },
    onError: (err) => toast.fromError(err, "Could not delete the rule"),
  });
  const close = () => {
    setCreating(false);
    setParams({}, { replace: true });
  };
  const items = rules.data?.items ?? [];
  const newButton = (
    <Button variant="primary" onClick={() => setCreating(true)}>
      <PlusIcon /> New rule
    </Button>
  );
  return (
    <>
      <PageHeader
        eyebrow="Operate"
        title="Alerts"
        description="Send failures, SLA breaches and changes, with what breaks downstream, to a webhook, Slack or e-mail."
        actions={newButton}
      />
      <QueryList
        query={rules}
        loading={<TableSkeleton rows={3} columns={3} label="Loading alert rules" />}
        isEmpty={!items.length}
        empty={
          <div className="card">
            <EmptyState icon={<BellIcon />} title="No alert rules yet" actions={newButton}>
              Tell the right people where they are when something breaks.
            </EmptyState>
          </div>
        }
      >
        <ul className="alert-rules">
          {items.map((r) => (
            <RuleCard key={r.id} rule={r} onDelete={setDeleting} />
          ))}
        </ul>
      </QueryList>
      <Dialog open={creating} onClose={close} title="New alert rule" size="lg">
        <RuleForm onClose={close} affects={params.get("affects") ?? ""} initialName={params.get("name") ? `Whatever breaks ${params.get("name")}` : ""} />
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirmLabel="Delete"
        pending={remove.isPending}
        onConfirm={() => deleting && remove.mutate(deleting)}
        onClose={() => setDeleting(null)}
      >
        Its delivery log goes too.
      </ConfirmDialog>
    </>
  );
}
