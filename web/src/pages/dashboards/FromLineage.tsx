/**
 * "Start from lineage": a new dashboard laid out from a dataset's (or process's) lineage
 * neighbourhood. Used from the dashboards list (pick a dataset) and from the Lineage page.
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { useNavigate } from "react-router";
import { dashboardsApi } from "../../api/dashboards";
import { datasetsApi, lineageApi } from "../../api/endpoints";
import type { Visibility } from "../../api/types";
import { PlatformTile, VisibilityOptions, datasetTitle } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { LineageIcon, SearchIcon } from "../../components/icons";
import { layoutBoxes, sizeOf } from "../../components/lineage/layout";
import { useToast } from "../../components/toasts";
import { Button, SelectField, TextField } from "../../components/ui";
import { applyPositions, layoutFromLineage } from "../../lib/dashboardLayout";

const DEPTHS = [1, 2, 3, 4, 5];

export interface LineageStartPoint {
  ref: string;
  name: string;
}

async function buildFromLineage(ref: string, up: number, down: number) {
  const [upstream, downstream] = await Promise.all([
    lineageApi.graph({ node: ref, direction: "upstream", depth: up }),
    lineageApi.graph({ node: ref, direction: "downstream", depth: down }),
  ]);
  const start = layoutFromLineage(upstream, downstream);
  const positions = await layoutBoxes(
    start.layout.nodes.map((n) => {
      const e = start.entities[n.ref ?? ""];
      return { id: n.id, ...sizeOf({ kind: n.kind === "process" ? "process" : "dataset", name: e?.name, restricted: false, health: "ok" }) };
    }),
    start.layout.edges,
  );
  return { ...start, layout: applyPositions(start.layout, positions) };
}

function DatasetPick({ onPick }: { onPick: (p: LineageStartPoint) => void }) {
  const [text, setText] = useState("");
  const id = useId();
  const q = text.trim();
  const results = useQuery({
    queryKey: ["datasets", "search", "dashboard-start", q],
    queryFn: ({ signal }) => datasetsApi.search({ query: q || undefined, sort: q ? "relevance" : "updated", limit: 6 }, signal),
    placeholderData: keepPreviousData,
  });
  return (
    <div className="field field--wide">
      <label className="field__label" htmlFor={id}>
        Start from dataset
      </label>
      <div className="palette__search">
        <SearchIcon />
        <input id={id} type="search" className="input" placeholder="Find a dataset" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
      </div>
      <ul className="start-list" aria-label="Datasets to start from">
        {(results.data?.items ?? []).map((ds) => (
          <li key={ds.id}>
            <button type="button" className="start-list__item" onClick={() => onPick({ ref: ds.id, name: datasetTitle(ds) })}>
              <PlatformTile platform={ds.platform} size={24} />
              <span>{datasetTitle(ds)}</span>
            </button>
          </li>
        ))}
        {results.data && !results.data.items.length ? <li className="subtle">No dataset matches.</li> : null}
      </ul>
    </div>
  );
}

export function FromLineageDialog({
  open,
  onClose,
  startPoint,
  initialUp = 2,
  initialDown = 2,
}: {
  open: boolean;
  onClose: () => void;
  startPoint?: LineageStartPoint;
  initialUp?: number;
  initialDown?: number;
}) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const [picked, setPicked] = useState<LineageStartPoint | undefined>(startPoint);
  const [up, setUp] = useState(Math.min(Math.max(initialUp, 1), 5));
  const [down, setDown] = useState(Math.min(Math.max(initialDown, 1), 5));
  const [title, setTitle] = useState(startPoint ? `${startPoint.name} flow` : "");
  const [visibility, setVisibility] = useState<Visibility>("internal");

  const create = useMutation({
    mutationFn: async () => {
      if (!picked) throw new Error("Pick a dataset first.");
      const start = await buildFromLineage(picked.ref, up, down);
      const res = await dashboardsApi.create({
        title: title.trim() || `${picked.name} flow`,
        description: `Started from the lineage of ${picked.name} (${up} up, ${down} down).`,
        visibility,
        layout: start.layout,
      });
      return { res, restricted: start.restricted, count: start.layout.nodes.length };
    },
    onSuccess: ({ res, restricted, count }) => {
      void qc.invalidateQueries({ queryKey: ["dashboards", "list"] });
      toast.success(
        "Dashboard created",
        `${count} ${count === 1 ? "node" : "nodes"} from the lineage${restricted ? `; ${restricted} you may not see were left out` : ""}.`,
      );
      onClose();
      navigate(`/dashboards/${res.data.id}`, { state: { fit: true } });
    },
    onError: (err) => toast.fromError(err, "Could not create the dashboard"),
  });

  return (
    <Dialog open={open} onClose={onClose} title="New dashboard from lineage" description="Lays out a flow around one dataset; edit it freely afterwards.">
      {open ? (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          {picked ? (
            <div className="start-picked">
              <LineageIcon />
              <span>
                Starting from <strong>{picked.name}</strong>
              </span>
              {!startPoint ? (
                <Button size="sm" variant="ghost" onClick={() => setPicked(undefined)}>
                  Change
                </Button>
              ) : null}
            </div>
          ) : (
            <DatasetPick
              onPick={(p) => {
                setPicked(p);
                if (!title.trim()) setTitle(`${p.name} flow`);
              }}
            />
          )}
          <div className="form-grid">
            <SelectField label="Upstream" value={up} onChange={(e) => setUp(Number(e.target.value))}>
              {DEPTHS.map((d) => (
                <option key={d} value={d}>
                  {d} {d === 1 ? "level" : "levels"}
                </option>
              ))}
            </SelectField>
            <SelectField label="Downstream" value={down} onChange={(e) => setDown(Number(e.target.value))}>
              {DEPTHS.map((d) => (
                <option key={d} value={d}>
                  {d} {d === 1 ? "level" : "levels"}
                </option>
              ))}
            </SelectField>
          </div>
          <TextField label="Title" maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="e.g. Daily revenue flow" />
          <SelectField label="Visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)}>
            <VisibilityOptions />
          </SelectField>
          <div className="form-actions">
            <Button onClick={onClose}>Cancel</Button>
            <Button type="submit" variant="primary" loading={create.isPending} disabled={!picked}>
              Create dashboard
            </Button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}

/** The Lineage page's "Save as dashboard" button. */
export function SaveAsDashboardButton({ startPoint, up, down }: { startPoint: LineageStartPoint; up: number; down: number }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)}>
        <LineageIcon /> Save as dashboard
      </Button>
      <FromLineageDialog open={open} onClose={() => setOpen(false)} startPoint={startPoint} initialUp={up} initialDown={down} />
    </>
  );
}
