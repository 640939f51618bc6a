/** The side panel: details of what is selected, and its annotations (owner, SLA, note). */
import { Fragment, useState, type ReactNode } from "react";
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
  type Annotations,
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

/** The annotation fields, in the order they show. */
const ANNOTATIONS: { key: keyof Annotations; label: string; limit: number; placeholder?: string; multiline?: boolean }[] = [
  { key: "owner", label: "Owner", limit: LIMITS.owner, placeholder: "Team or person" },
  { key: "sla", label: "SLA", limit: LIMITS.sla, placeholder: "e.g. ready by 07:00 UTC" },
  { key: "note", label: "Note", limit: LIMITS.text, multiline: true },
];

/** A small form of the panel: its fields, then one primary button. */
function ApplyForm({
  submitLabel,
  onApply,
  children,
  "aria-label": ariaLabel,
}: {
  submitLabel: string;
  onApply: () => void;
  children: ReactNode;
  "aria-label"?: string;
}) {
  return (
    <form
      className="inspector__form"
      aria-label={ariaLabel}
      onSubmit={(e) => {
        e.preventDefault();
        onApply();
      }}
    >
      {children}
      <Button type="submit" variant="primary" size="sm">
        {submitLabel}
      </Button>
    </form>
  );
}

/** Removes the given items from the canvas (editors only). */
function RemoveButton({ ids, props, children }: { ids: string[]; props: Props; children: ReactNode }) {
  if (!props.editable) return null;
  return (
    <Button
      size="sm"
      variant="danger-ghost"
      onClick={() => {
        props.onCommit(removeItems(props.layout, ids));
        props.onClear();
      }}
    >
      <TrashIcon /> {children}
    </Button>
  );
}

function AnnotationsForm({ node, editable, onApply }: { node: LayoutNode; editable: boolean; onApply: (n: LayoutNode["annotations"]) => void }) {
  const [draft, setDraft] = useState(
    () => Object.fromEntries(ANNOTATIONS.map((f) => [f.key, node.annotations?.[f.key] ?? ""])) as Required<Annotations>,
  );
  if (!editable) {
    const a = node.annotations;
    if (!a) return <p className="subtle">No annotations.</p>;
    return (
      <dl className="definition-list">
        {ANNOTATIONS.map((f) =>
          a[f.key] ? (
            <Fragment key={f.key}>
              <dt>{f.label}</dt>
              <dd>{a[f.key]}</dd>
            </Fragment>
          ) : null,
        )}
      </dl>
    );
  }
  return (
    <ApplyForm submitLabel="Apply annotations" onApply={() => onApply({ ...draft })} aria-label="Annotations">
      {ANNOTATIONS.map((f) => {
        const field = {
          label: f.label,
          optional: true,
          value: draft[f.key],
          maxLength: f.limit,
          onChange: (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [f.key]: e.target.value })),
        };
        return f.multiline ? (
          <TextAreaField key={f.key} rows={3} {...field} />
        ) : (
          <TextField key={f.key} {...field} placeholder={f.placeholder} />
        );
      })}
    </ApplyForm>
  );
}

/** The annotations of a node or note: read, or edited by editors. */
function AnnotationsSection({ node, props }: { node: LayoutNode; props: Props }) {
  const { layout, editable, onCommit } = props;
  return (
    <section className="inspector__section" aria-label="Annotations">
      <h3 className="inspector__subtitle">Annotations</h3>
      <AnnotationsForm
        key={node.id}
        node={node}
        editable={editable}
        onApply={(annotations) => onCommit(updateNode(layout, node.id, { annotations }))}
      />
    </section>
  );
}

function NodeDetails({ node, entity, props }: { node: LayoutNode; entity: EntityInfo | undefined; props: Props }) {
  const { statuses } = props;
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
      <AnnotationsSection node={node} props={props} />
      <RemoveButton ids={[node.id]} props={props}>
        Remove from the canvas
      </RemoveButton>
    </>
  );
}

function NoteDetails({ node, props }: { node: LayoutNode; props: Props }) {
  const { layout, editable, onCommit } = props;
  const [text, setText] = useState(node.text ?? "");
  return (
    <>
      <div className="inspector__head">
        <span className="eyebrow">Note</span>
      </div>
      {editable ? (
        <ApplyForm submitLabel="Apply text" onApply={() => onCommit(updateNode(layout, node.id, { text }))}>
          <TextAreaField label="Text" rows={5} value={text} maxLength={LIMITS.text} onChange={(e) => setText(e.target.value)} />
        </ApplyForm>
      ) : (
        <p className="inspector__note">{node.text}</p>
      )}
      <AnnotationsSection node={node} props={props} />
      <RemoveButton ids={[node.id]} props={props}>
        Remove note
      </RemoveButton>
    </>
  );
}

function EdgeDetails({ edge, props }: { edge: LayoutEdge; props: Props }) {
  const { layout, editable, onCommit, entities } = props;
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
        <ApplyForm submitLabel="Apply label" onApply={() => onCommit(updateEdge(layout, edge.id, label))}>
          <TextField label="Label" optional value={label} maxLength={LIMITS.edgeLabel} onChange={(e) => setLabel(e.target.value)} />
        </ApplyForm>
      ) : edge.label ? (
        <p>{edge.label}</p>
      ) : null}
      <RemoveButton ids={[edge.id]} props={props}>
        Remove link
      </RemoveButton>
    </>
  );
}

function GroupDetails({ group, props }: { group: LayoutGroup; props: Props }) {
  const { layout, editable, onCommit } = props;
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
        <ApplyForm submitLabel="Apply label" onApply={() => onCommit(updateGroup(layout, group.id, { label: label.trim() }))}>
          <TextField label="Label" value={label} maxLength={LIMITS.label} onChange={(e) => setLabel(e.target.value)} />
        </ApplyForm>
      ) : null}
      <RemoveButton ids={[group.id]} props={props}>
        Remove group (keep its nodes)
      </RemoveButton>
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
        <RemoveButton ids={ids} props={props}>
          Remove them
        </RemoveButton>
      </>
    );
  }
  return (
    <aside className="inspector" aria-label="Details" data-testid="inspector">
      {body ?? <Overview props={props} />}
    </aside>
  );
}
