/** The palette beside the canvas: find datasets and processes and drag them in (or press Add). */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState, type DragEvent } from "react";
import { processesApi } from "../../api/dashboards";
import { datasetsApi } from "../../api/endpoints";
import { PlatformTile, datasetTitle } from "../../components/datasets";
import { CogIcon, EditIcon, PlusIcon } from "../../components/icons";
import { Button, ErrorAlert, SearchBox, Skeleton } from "../../components/ui";
import { DRAG_TYPE, type DragItem } from "./Canvas";

type Source = "datasets" | "processes";

function startDrag(e: DragEvent, item: DragItem) {
  e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(item));
  e.dataTransfer.effectAllowed = "copy";
}

function PaletteItem({
  item,
  title,
  sub,
  icon,
  onAdd,
}: {
  item: DragItem;
  title: string;
  sub: string;
  icon: React.ReactNode;
  onAdd: (item: DragItem) => void;
}) {
  return (
    // Dragging is the mouse path; the Add button is the keyboard path to the same thing.
    // oxlint-disable-next-line jsx-a11y/no-noninteractive-element-interactions
    <li
      className="palette__item"
      draggable
      onDragStart={(e) => startDrag(e, item)}
      data-testid="palette-item"
      title={`Drag ${title} onto the canvas`}
    >
      {icon}
      <span className="palette__text">
        <span className="palette__title">{title}</span>
        <span className="palette__sub mono">{sub}</span>
      </span>
      <Button size="sm" variant="ghost" icon aria-label={`Add ${title}`} title="Add to the canvas" onClick={() => onAdd(item)}>
        <PlusIcon />
      </Button>
    </li>
  );
}

export function SearchPanel({ onAdd }: { onAdd: (item: DragItem) => void }) {
  const [source, setSource] = useState<Source>("datasets");
  const [text, setText] = useState("");
  const q = text.trim();
  const datasets = useQuery({
    queryKey: ["datasets", "search", "dashboard-palette", q],
    queryFn: ({ signal }) => datasetsApi.search({ query: q || undefined, sort: q ? "relevance" : "updated", limit: 15 }, signal),
    placeholderData: keepPreviousData,
    enabled: source === "datasets",
  });
  const processes = useQuery({
    queryKey: ["lineage", "processes", "dashboard-palette", q],
    queryFn: ({ signal }) => processesApi.search(q, signal),
    placeholderData: keepPreviousData,
    enabled: source === "processes",
  });
  const active = source === "datasets" ? datasets : processes;

  return (
    <aside className="palette" aria-label="Add to the canvas">
      <div className="palette__head">
        <div className="dseg" role="group" aria-label="What to find">
          {(["datasets", "processes"] as const).map((s) => (
            <button
              key={s}
              type="button"
              className="dseg__option"
              aria-pressed={source === s}
              onClick={() => setSource(s)}
            >
              {s === "datasets" ? "Datasets" : "Processes"}
            </button>
          ))}
        </div>
        <SearchBox
          className="palette__search"
          label={source === "datasets" ? "Find datasets" : "Find processes"}
          placeholder={source === "datasets" ? "Find datasets" : "Find processes"}
          value={text}
          onChange={setText}
        />
      </div>
      <ul className="palette__list" aria-label="Free-form items">
        <PaletteItem
          item={{ kind: "note" }}
          title="Note"
          sub="free text"
          icon={
            <span className="palette__icon palette__icon--note" aria-hidden="true">
              <EditIcon />
            </span>
          }
          onAdd={onAdd}
        />
      </ul>
      {active.isPending ? (
        <div className="palette__loading" aria-hidden="true">
          <Skeleton width="80%" />
          <Skeleton width="70%" />
          <Skeleton width="75%" />
        </div>
      ) : active.isError ? (
        <div className="palette__loading">
          <ErrorAlert error={active.error} onRetry={() => active.refetch()} />
        </div>
      ) : source === "datasets" ? (
        <ul className="palette__list" aria-label="Datasets" data-testid="palette-datasets" aria-busy={datasets.isFetching}>
          {datasets.data?.items.length ? (
            datasets.data.items.map((ds) => (
              <PaletteItem
                key={ds.id}
                item={{
                  kind: "dataset",
                  entity: { id: ds.id, kind: "dataset", name: ds.name, namespace: ds.namespace, platform: ds.platform },
                }}
                title={datasetTitle(ds)}
                sub={ds.name}
                icon={<PlatformTile platform={ds.platform} size={28} />}
                onAdd={onAdd}
              />
            ))
          ) : (
            <li className="palette__empty subtle">{q ? `No dataset matches “${q}”.` : "No datasets yet."}</li>
          )}
        </ul>
      ) : (
        <ul className="palette__list" aria-label="Processes" data-testid="palette-processes" aria-busy={processes.isFetching}>
          {processes.data?.items.length ? (
            processes.data.items.map((p) => (
              <PaletteItem
                key={p.id}
                item={{ kind: "process", entity: { id: p.id, kind: "process", name: p.name, namespace: p.namespace } }}
                title={p.name}
                sub={p.namespace}
                icon={
                  <span className="palette__icon palette__icon--process" aria-hidden="true">
                    <CogIcon />
                  </span>
                }
                onAdd={onAdd}
              />
            ))
          ) : (
            <li className="palette__empty subtle">{q ? `No process matches “${q}”.` : "No processes yet."}</li>
          )}
        </ul>
      )}
      <p className="palette__hint subtle">Drag onto the canvas, or press +. Link nodes by dragging from a dot on their side.</p>
    </aside>
  );
}
