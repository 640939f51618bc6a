/** The side panel: details of what is selected, and its annotations (owner, SLA, note). */
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { CatalogIcon, LineageIcon, TrashIcon } from "../../components/icons";
import { HealthStateBadge } from "../../components/monitoring";
import { Button, TextAreaField, TextField, buttonClass } from "../../components/ui";
import { HEALTH_INFO, healthSummary, type StatusMap } from "../../lib/dashboardHealth";
import {
  LIMITS,
  refsOf,
  removeItems,
  updateEdge,
  updateGroup,
  updateNode,
  type DashboardLayout,
  type EntityInfo,
  type LayoutEdge,
  type LayoutGroup,
  type LayoutNode,
} from "../../lib/dashboardLayout";
import { entityTitle } from "./Canvas";

interface Props {
  layout: DashboardLayout;
  entities: Record<string, EntityInfo>;
  statuses: StatusMap;
  selected: ReadonlySet<string>;
  editable: boolean;
  onCommit: (next: DashboardLayout) => void;
  onClear: () => void;
}

function AnnotationsForm({ node, editable, onApply }: { node: LayoutNode; editable: boolean; onApply: (n: LayoutNode["annotations"]) => void }) {
  const [owner, setOwner] = useState(node.annotations?.owner ?? "");
  const [sla, setSla] = useState(node.annotations?.sla ?? "");
  const [note, setNote] = useState(node.annotations?.note ?? "");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({ owner, sla, note });
  };
  if (!editable) {
    const a = node.annotations;
    if (!a) return <p className="subtle">No annotations.</p>;
    return (
      <dl className="definition-list">
        {a.owner ? (
          <>
            <dt>Owner</dt>
            <dd>{a.owner}</dd>
          </>
        ) : null}
        {a.sla ? (
          <>
            <dt>SLA</dt>
            <dd>{a.sla}</dd>
          </>
        ) : null}
        {a.note ? (
          <>
            <dt>Note</dt>
            <dd>{a.note}</dd>
          </>
        ) : null}
      </dl>
    );
  }
  return (
    <form className="inspector__form" onSubmit={submit} aria-label="Annotations">
      <TextField label="Owner" optional value={owner} maxLength={LIMITS.owner} onChange={(e) => setOwner(e.target.value)} placeholder="Team or person" />
      <TextField label="SLA" optional value={sla} maxLength={LIMITS.sla} onChange={(e) => setSla(e.target.value)} placeholder="e.g. ready by 07:00 UTC" />
      <TextAreaField label="Note" optional rows={3} value={note} maxLength={LIMITS.text} onChange={(e) => setNote(e.target.value)} />
      <Button type="submit" variant="primary" size="sm">
        Apply annotations
      </Button>
    </form>
  );
}

function NodeDetails({ node, entity, props }: { node: LayoutNode; entity: EntityInfo | undefined; props: Props }) {
  const { layout, statuses, editable, onCommit, onClear } = props;
  const restricted = !entity || entity.restricted;
  const status = node.ref ? statuses[node.ref] : undefined;
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">{node.kind === "process" ? "Process" : "Dataset"}</span>
        <h2 className="inspector__title">{entityTitle(node.kind, entity)}</h2>
        {restricted ? (
          <p className="subtle">You do not have access to it. Its place on the canvas is kept for those who do.</p>
        ) : (
          <>
            {entity.namespace ? <div className="mono subtle inspector__ns">{entity.namespace}</div> : null}
            <div className="row">
              <HealthStateBadge state={status?.health} />
            </div>
            <div className="row">
              {node.kind === "dataset" ? (
                <Link className={buttonClass({ size: "sm" })} to={`/datasets/${node.ref}`}>
                  <CatalogIcon /> Open dataset
                </Link>
              ) : null}
              <Link className={buttonClass({ size: "sm", variant: "ghost" })} to={`/lineage?node=${node.ref}`}>
                <LineageIcon /> Lineage
              </Link>
            </div>
          </>
        )}
      </div>
      <section className="inspector__section" aria-label="Annotations">
        <h3 className="inspector__subtitle">Annotations</h3>
        <AnnotationsForm
          key={node.id}
          node={node}
          editable={editable}
          onApply={(annotations) => onCommit(updateNode(layout, node.id, { annotations }))}
        />
      </section>
      {editable ? (
        <Button
          size="sm"
          variant="danger-ghost"
          onClick={() => {
            onCommit(removeItems(layout, [node.id]));
            onClear();
          }}
        >
          <TrashIcon /> Remove from the canvas
        </Button>
      ) : null}
    </>
  );
}

function NoteDetails({ node, props }: { node: LayoutNode; props: Props }) {
  const { layout, editable, onCommit, onClear } = props;
  const [text, setText] = useState(node.text ?? "");
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">Note</span>
      </div>
      {editable ? (
        <form
          className="inspector__form"
          onSubmit={(e) => {
            e.preventDefault();
            onCommit(updateNode(layout, node.id, { text }));
          }}
        >
          <TextAreaField label="Text" rows={5} value={text} maxLength={LIMITS.text} onChange={(e) => setText(e.target.value)} />
          <Button type="submit" variant="primary" size="sm">
            Apply text
          </Button>
        </form>
      ) : (
        <p className="inspector__note">{node.text}</p>
      )}
      <section className="inspector__section" aria-label="Annotations">
        <h3 className="inspector__subtitle">Annotations</h3>
        <AnnotationsForm key={node.id} node={node} editable={editable} onApply={(annotations) => onCommit(updateNode(layout, node.id, { annotations }))} />
      </section>
      {editable ? (
        <Button
          size="sm"
          variant="danger-ghost"
          onClick={() => {
            onCommit(removeItems(layout, [node.id]));
            onClear();
          }}
        >
          <TrashIcon /> Remove note
        </Button>
      ) : null}
    </>
  );
}

function EdgeDetails({ edge, props }: { edge: LayoutEdge; props: Props }) {
  const { layout, editable, onCommit, onClear, entities } = props;
  const [label, setLabel] = useState(edge.label ?? "");
  const name = (id: string) => {
    const n = layout.nodes.find((x) => x.id === id);
    if (!n) return id;
    if (n.kind === "note") return "a note";
    return entityTitle(n.kind, n.ref ? entities[n.ref] : undefined);
  };
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">Link</span>
        <h2 className="inspector__title">
          {name(edge.source)} → {name(edge.target)}
        </h2>
      </div>
      {editable ? (
        <form
          className="inspector__form"
          onSubmit={(e) => {
            e.preventDefault();
            onCommit(updateEdge(layout, edge.id, label));
          }}
        >
          <TextField label="Label" optional value={label} maxLength={LIMITS.edgeLabel} onChange={(e) => setLabel(e.target.value)} />
          <Button type="submit" variant="primary" size="sm">
            Apply label
          </Button>
        </form>
      ) : edge.label ? (
        <p>{edge.label}</p>
      ) : null}
      {editable ? (
        <Button
          size="sm"
          variant="danger-ghost"
          onClick={() => {
            onCommit(removeItems(layout, [edge.id]));
            onClear();
          }}
        >
          <TrashIcon /> Remove link
        </Button>
      ) : null}
    </>
  );
}

function GroupDetails({ group, props }: { group: LayoutGroup; props: Props }) {
  const { layout, editable, onCommit, onClear } = props;
  const [label, setLabel] = useState(group.label);
  const members = layout.nodes.filter((n) => n.parent === group.id).length;
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">Group</span>
        <h2 className="inspector__title">{group.label || "Group"}</h2>
        <p className="subtle">
          {members} {members === 1 ? "node" : "nodes"} inside. Drag nodes in or out; drag a corner to resize.
        </p>
      </div>
      {editable ? (
        <form
          className="inspector__form"
          onSubmit={(e) => {
            e.preventDefault();
            onCommit(updateGroup(layout, group.id, { label: label.trim() }));
          }}
        >
          <TextField label="Label" value={label} maxLength={LIMITS.label} onChange={(e) => setLabel(e.target.value)} />
          <Button type="submit" variant="primary" size="sm">
            Apply label
          </Button>
        </form>
      ) : null}
      {editable ? (
        <Button
          size="sm"
          variant="danger-ghost"
          onClick={() => {
            onCommit(removeItems(layout, [group.id]));
            onClear();
          }}
        >
          <TrashIcon /> Remove group (keep its nodes)
        </Button>
      ) : null}
    </>
  );
}

function Overview({ props }: { props: Props }) {
  const { layout, statuses, editable } = props;
  const refs = refsOf(layout);
  const summary = healthSummary(statuses, refs);
  const annotated = layout.nodes.filter((n) => n.annotations).length;
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">This dashboard</span>
        <p className="muted">
          {layout.nodes.length} {layout.nodes.length === 1 ? "node" : "nodes"} · {layout.edges.length}{" "}
          {layout.edges.length === 1 ? "link" : "links"} · {layout.groups.length} {layout.groups.length === 1 ? "group" : "groups"} ·{" "}
          {annotated} annotated
        </p>
      </div>
      <section className="inspector__section" aria-label="Health now">
        <h3 className="inspector__subtitle">Health now</h3>
        {summary.length ? (
          <ul className="inspector__health" data-testid="health-summary">
            {summary.map(({ state, count }) => (
              <li key={state}>
                <HealthStateBadge state={state} /> <span>{count}</span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="subtle">{refs.length ? "Reading health…" : "Add datasets or processes to see their health."}</p>
        )}
        <dl className="inspector__legend">
          {Object.values(HEALTH_INFO).map((h) => (
            <div key={h.label}>
              <dt>{h.label}</dt>
              <dd>{h.description}</dd>
            </div>
          ))}
        </dl>
      </section>
      {editable ? (
        <section className="inspector__section" aria-label="Shortcuts">
          <h3 className="inspector__subtitle">Shortcuts</h3>
          <ul className="inspector__keys">
            <li>
              <kbd>Ctrl</kbd>+<kbd>Z</kbd> undo, <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>Z</kbd> redo
            </li>
            <li>
              <kbd>Ctrl</kbd>+<kbd>S</kbd> save
            </li>
            <li>
              <kbd>Delete</kbd> removes what is selected
            </li>
            <li>
              <kbd>Shift</kbd>+drag selects several
            </li>
          </ul>
        </section>
      ) : null}
    </>
  );
}

export function Inspector(props: Props) {
  const { layout, entities, selected } = props;
  const ids = [...selected];
  let body;
  if (ids.length === 1) {
    const id = ids[0]!;
    const node = layout.nodes.find((n) => n.id === id);
    const edge = layout.edges.find((e) => e.id === id);
    const group = layout.groups.find((g) => g.id === id);
    if (node?.kind === "note") body = <NoteDetails key={id} node={node} props={props} />;
    else if (node) body = <NodeDetails key={id} node={node} entity={node.ref ? entities[node.ref] : undefined} props={props} />;
    else if (edge) body = <EdgeDetails key={id} edge={edge} props={props} />;
    else if (group) body = <GroupDetails key={id} group={group} props={props} />;
  } else if (ids.length > 1) {
    body = (
      <>
        <div className="inspector__head">
          <span className="eyebrow">Selection</span>
          <h2 className="inspector__title">{ids.length} items selected</h2>
        </div>
        {props.editable ? (
          <Button
            size="sm"
            variant="danger-ghost"
            onClick={() => {
              props.onCommit(removeItems(layout, ids));
              props.onClear();
            }}
          >
            <TrashIcon /> Remove them
          </Button>
        ) : null}
      </>
    );
  }
  return (
    <aside className="inspector" aria-label="Details" data-testid="inspector">
      {body ?? <Overview props={props} />}
    </aside>
  );
}
