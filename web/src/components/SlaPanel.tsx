/**
 * A dataset's freshness SLA: its state (on time / late), when it is due, when the data last
 * landed (the last COMPLETE run that wrote it), and, for those who may edit the dataset, the form.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { isApiError } from "../api/errors";
import { monitoringApi, monitoringKeys, type Sla } from "../api/monitoring";
import { slaBody, slaText, type SlaKind } from "../lib/dashboardHealth";
import { ClockIcon, EditIcon, PlusIcon, TrashIcon } from "./icons";
import { SlaStateBadge } from "./monitoring";
import { useToast } from "./toasts";
import { Button, ErrorAlert, Skeleton, TextField, Time } from "./ui";
import "../pages/dashboards/dashboards.css";

function SlaForm({ datasetId, sla, onDone }: { datasetId: string; sla: Sla | null; onDone: () => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const name = useId();
  const [kind, setKind] = useState<SlaKind>(sla?.kind ?? "daily_by");
  const [at, setAt] = useState(sla?.at ?? "07:00");
  const [hours, setHours] = useState(sla?.hours ? String(sla.hours) : "24");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const put = useMutation({
    mutationFn: (body: Parameters<typeof monitoringApi.putSla>[1]) => monitoringApi.putSla(datasetId, body),
    onSuccess: (saved) => {
      qc.setQueryData(monitoringKeys.sla(datasetId), saved);
      void qc.invalidateQueries({ queryKey: ["monitoring", "overview"] });
      toast.success("SLA saved", slaText(saved));
      onDone();
    },
    onError: (err) => {
      if (isApiError(err) && err.fieldErrors) {
        const f: Record<string, string> = {};
        for (const [path, msg] of Object.entries(err.fieldErrors)) f[path.split(".").pop() ?? path] = msg;
        setErrors(f);
      }
      toast.fromError(err, "Could not save the SLA");
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = slaBody(kind, at, hours);
    if ("errors" in r) {
      setErrors(r.errors);
      return;
    }
    setErrors({});
    put.mutate(r.body);
  };
  return (
    <form className="sla-form" onSubmit={submit} aria-label="Freshness SLA">
      <fieldset className="sla-form__kinds">
        <legend className="field__label">Promise</legend>
        <label className="sla-form__kind">
          <input type="radio" name={name} checked={kind === "daily_by"} onChange={() => setKind("daily_by")} />
          Updated every day by a time (UTC)
        </label>
        <label className="sla-form__kind">
          <input type="radio" name={name} checked={kind === "max_age"} onChange={() => setKind("max_age")} />
          Never older than a number of hours
        </label>
      </fieldset>
      {kind === "daily_by" ? (
        <TextField label="Deadline (UTC, HH:MM)" value={at} onChange={(e) => setAt(e.target.value)} error={errors.at} inputMode="numeric" placeholder="07:00" maxLength={5} />
      ) : (
        <TextField label="Maximum age (hours)" type="number" min={1} max={8760} step={1} value={hours} onChange={(e) => setHours(e.target.value)} error={errors.hours} />
      )}
      <div className="form-actions">
        <Button size="sm" onClick={onDone}>
          Cancel
        </Button>
        <Button size="sm" type="submit" variant="primary" loading={put.isPending}>
          Save SLA
        </Button>
      </div>
    </form>
  );
}

export function SlaPanel({ datasetId, editable }: { datasetId: string; editable: boolean }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [editing, setEditing] = useState(false);
  const q = useQuery({
    queryKey: monitoringKeys.sla(datasetId),
    queryFn: async ({ signal }) => {
      try {
        return await monitoringApi.getSla(datasetId, signal);
      } catch (err) {
        if (isApiError(err) && err.status === 404) return null;
        throw err;
      }
    },
  });
  const remove = useMutation({
    mutationFn: () => monitoringApi.deleteSla(datasetId),
    onSuccess: () => {
      qc.setQueryData(monitoringKeys.sla(datasetId), null);
      void qc.invalidateQueries({ queryKey: ["monitoring", "overview"] });
      toast.success("SLA removed");
    },
    onError: (err) => toast.fromError(err, "Could not remove the SLA"),
  });

  const sla = q.data ?? null;
  return (
    <section className="card" aria-labelledby="sla-heading" data-testid="sla-panel">
      <div className="card__header">
        <h2 className="card__title" id="sla-heading">
          Freshness SLA
        </h2>
        {editable && sla && !editing ? (
          <div className="row">
            <Button size="sm" variant="ghost" icon aria-label="Edit the SLA" title="Edit" onClick={() => setEditing(true)}>
              <EditIcon />
            </Button>
            <Button size="sm" variant="danger-ghost" icon aria-label="Remove the SLA" title="Remove" loading={remove.isPending} onClick={() => remove.mutate()}>
              <TrashIcon />
            </Button>
          </div>
        ) : null}
      </div>
      <div className="card__body">
        {q.isPending ? (
          <div className="stack" aria-hidden="true">
            <Skeleton width="60%" />
            <Skeleton width="40%" />
          </div>
        ) : q.isError ? (
          <ErrorAlert error={q.error} onRetry={() => q.refetch()} />
        ) : editing ? (
          <SlaForm datasetId={datasetId} sla={sla} onDone={() => setEditing(false)} />
        ) : sla ? (
          <div className="sla">
            <div className="sla__promise">
              <ClockIcon />
              <span>{slaText(sla)}</span>
            </div>
            <SlaStateBadge state={sla.state} />
            <dl className="definition-list sla__facts">
              <dt>Due</dt>
              <dd>
                <Time iso={sla.due_at} fallback="—" />
              </dd>
              <dt>Last complete run</dt>
              <dd>
                <Time iso={sla.last_complete_at} fallback="Never reported" />
              </dd>
              {sla.breached_since ? (
                <>
                  <dt>Late since</dt>
                  <dd>
                    <Time iso={sla.breached_since} />
                  </dd>
                </>
              ) : null}
            </dl>
          </div>
        ) : (
          <div className="sla sla--none">
            <p className="subtle">No freshness SLA. Set one and its followers are told when it is late, and when it is back.</p>
            {editable ? (
              <Button size="sm" onClick={() => setEditing(true)}>
                <PlusIcon /> Set an SLA
              </Button>
            ) : null}
          </div>
        )}
      </div>
    </section>
  );
}
