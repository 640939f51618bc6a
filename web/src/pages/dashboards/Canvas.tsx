/**
 * The dashboard canvas (React Flow). It draws the editor's document and reports edits back as
 * whole new documents: `onPreview` while something moves, `onCommit` when an edit is done (one
 * undo step). Loaded lazily with React Flow and ELK.
 */
import "@xyflow/react/dist/style.css";
import {
  Background,
  ConnectionLineType,
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  NodeResizer,
  NodeToolbar,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
  type NodeProps,
  type OnDelete,
} from "@xyflow/react";
import {
  createContext,
  memo,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type DragEvent,
  type RefObject,
} from "react";
import { platformLabel } from "../../components/datasets";
import { CogIcon, LockIcon } from "../../components/icons";
import { useNodeTip } from "../../components/lineage/nodeTip";
import { HealthStateIcon } from "../../components/monitoring";
import { layoutBoxes, NODE_WIDTH } from "../../components/lineage/layout";
import { HEALTH_INFO, healthOf, type EntityStatus, type StatusMap } from "../../lib/dashboardHealth";
import {
  GRID,
  NOTE_SIZE,
  addEdge,
  applyPositions,
  moveItems,
  newId,
  removeItems,
  reparent,
  updateGroup,
  updateNode,
  type DashboardLayout,
  type EntityInfo,
  type LayoutGroup,
  type LayoutNode,
  type Size,
  type Viewport,
  type XY,
} from "../../lib/dashboardLayout";
import { useTheme } from "../../lib/theme";

export const DRAG_TYPE = "application/x-datamesh-node";

/** What the search panel hands over when something is dragged onto the canvas. */
export type DragItem = { kind: "dataset" | "process"; entity: EntityInfo } | { kind: "note" };

export interface CanvasApi {
  viewport: () => Viewport;
  /** The canvas point at the centre of the visible area. */
  centre: () => XY;
  fit: () => void;
  /** Lay out every node with ELK (groups are dissolved); returns the new document. */
  autoLayout: (layout: DashboardLayout) => Promise<DashboardLayout>;
}

export interface CanvasProps {
  layout: DashboardLayout;
  entities: Record<string, EntityInfo>;
  statuses: StatusMap;
  editable: boolean;
  selected: ReadonlySet<string>;
  onSelect: (ids: Set<string>) => void;
  onPreview: (next: DashboardLayout) => void;
  onCommit: (next: DashboardLayout, from?: DashboardLayout) => void;
  onDropItem: (item: DragItem, at: XY) => void;
  /** Fit the whole canvas into view when it opens (instead of the saved viewport). */
  fitOnOpen: boolean;
  apiRef: RefObject<CanvasApi | null>;
  height: number | string;
}

/* Nodes ------------------------------------------------------------------------------------------ */

interface EntityData extends Record<string, unknown> {
  node: LayoutNode;
  entity: EntityInfo | undefined;
  status: EntityStatus | undefined;
}
interface NoteData extends Record<string, unknown> {
  node: LayoutNode;
}
interface GroupData extends Record<string, unknown> {
  group: LayoutGroup;
}
type EntityFlowNode = Node<EntityData, "entity">;
type NoteFlowNode = Node<NoteData, "note">;
type GroupFlowNode = Node<GroupData, "group">;
type FlowNode = EntityFlowNode | NoteFlowNode | GroupFlowNode;

type ResizePhase = "start" | "resize" | "end";
interface CanvasActions {
  editable: boolean;
  resize: (id: string, phase: ResizePhase, rect: { x: number; y: number; width: number; height: number }) => void;
}
const Actions = createContext<CanvasActions>({ editable: false, resize: () => undefined });

export function entityTitle(kind: string, entity: EntityInfo | undefined): string {
  if (!entity || entity.restricted || !entity.name) return kind === "process" ? "Restricted process" : "Restricted dataset";
  return entity.name;
}

/** Let long qualified names wrap after dots, slashes and underscores rather than mid-word. */
function breakable(text: string) {
  return text.split(/(?<=[./_])/).map((part, i) => (
    <span key={i}>
      {part}
      <wbr />
    </span>
  ));
}

function Annotations({ node }: { node: LayoutNode }) {
  const a = node.annotations;
  if (!a) return null;
  return (
    <dl className="dnode__notes" data-testid="node-annotations">
      {a.owner ? (
        <div>
          <dt>Owner</dt>
          <dd>{a.owner}</dd>
        </div>
      ) : null}
      {a.sla ? (
        <div>
          <dt>SLA</dt>
          <dd>{a.sla}</dd>
        </div>
      ) : null}
      {a.note ? (
        <div>
          <dt>Note</dt>
          <dd>{a.note}</dd>
        </div>
      ) : null}
    </dl>
  );
}

function Tip({ node, entity, status }: EntityData) {
  const restricted = !entity || entity.restricted;
  const state = healthOf(status?.health);
  return (
    <div className="lnode-tip" role="tooltip">
      <div className="lnode-tip__title">{entityTitle(node.kind, entity)}</div>
      {restricted ? (
        <p className="lnode-tip__note">You do not have access to it: its name and health are hidden from you.</p>
      ) : (
        <dl>
          <dt>Kind</dt>
          <dd>{node.kind === "process" ? "Process (job)" : "Dataset"}</dd>
          <dt>Namespace</dt>
          <dd className="mono">{entity.namespace ?? "—"}</dd>
          {node.kind === "dataset" ? (
            <>
              <dt>Platform</dt>
              <dd>{entity.platform ? platformLabel(entity.platform) : "—"}</dd>
            </>
          ) : null}
          <dt>Health</dt>
          <dd>
            <span className={`dnode__health dnode__health--${state}`}>
              <HealthStateIcon state={state} /> {HEALTH_INFO[state].label}
            </span>
            <div className="subtle">{HEALTH_INFO[state].description}</div>
          </dd>
          {status?.latest_run_state ? (
            <>
              <dt>Last run</dt>
              <dd>{status.latest_run_state}</dd>
            </>
          ) : null}
          {status?.sla_state ? (
            <>
              <dt>SLA</dt>
              <dd>{status.sla_state}</dd>
            </>
          ) : null}
        </dl>
      )}
    </div>
  );
}

const EntityNode = memo(function EntityNode({ data, selected, dragging }: NodeProps<EntityFlowNode>) {
  const { node, entity, status } = data;
  const { editable } = useContext(Actions);
  const { hover, placement, onMouseEnter, onMouseLeave } = useNodeTip();
  const restricted = !entity || !!entity.restricted;
  const state = healthOf(status?.health);
  const kind = node.kind === "process" ? "process" : "dataset";
  const classes = [
    "dnode",
    `dnode--${restricted ? "restricted" : kind}`,
    restricted ? "" : `dnode--${state}`,
    selected ? "dnode--selected" : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <div
      className={classes}
      style={{ width: restricted ? NODE_WIDTH.restricted : NODE_WIDTH[kind] }}
      onMouseEnter={onMouseEnter}
      onMouseLeave={onMouseLeave}
      data-testid="dashboard-node"
      data-kind={node.kind}
      data-ref={node.ref}
      data-health={restricted ? undefined : state}
      data-restricted={restricted || undefined}
    >
      <Handle type="target" position={Position.Left} isConnectable={editable} />
      <NodeToolbar isVisible={hover && !dragging} position={placement.position} align={placement.align} offset={8}>
        <Tip node={node} entity={entity} status={status} />
      </NodeToolbar>
      <div className="dnode__main">
        <span className="lnode__icon" aria-hidden="true">
          {restricted ? <LockIcon /> : kind === "process" ? <CogIcon /> : (entity.platform ?? "?").slice(0, 2)}
        </span>
        <div className="lnode__text">
          <div className="lnode__name" title={restricted ? undefined : (entity.name ?? undefined)}>
            {breakable(entityTitle(kind, entity))}
          </div>
          <div className="lnode__sub">
            {restricted ? "No access" : kind === "process" ? `Job · ${entity.namespace ?? ""}` : (entity.namespace ?? "")}
          </div>
          {restricted ? null : (
            <div className={`dnode__health dnode__health--${state}`} data-testid="node-health">
              <HealthStateIcon state={state} />
              {HEALTH_INFO[state].label}
            </div>
          )}
        </div>
      </div>
      <Annotations node={node} />
      <Handle type="source" position={Position.Right} isConnectable={editable} />
    </div>
  );
});

const NoteNode = memo(function NoteNode({ id, data, selected }: NodeProps<NoteFlowNode>) {
  const { editable, resize } = useContext(Actions);
  const { node } = data;
  return (
    <div className={selected ? "dnote dnote--selected" : "dnote"} data-testid="dashboard-note">
      <NodeResizer
        isVisible={editable && selected}
        minWidth={120}
        minHeight={60}
        onResizeStart={(_, p) => resize(id, "start", p)}
        onResize={(_, p) => resize(id, "resize", p)}
        onResizeEnd={(_, p) => resize(id, "end", p)}
      />
      <Handle type="target" position={Position.Left} isConnectable={editable} />
      <div className="dnote__text">{node.text?.trim() ? node.text : <span className="subtle">Empty note</span>}</div>
      <Annotations node={node} />
      <Handle type="source" position={Position.Right} isConnectable={editable} />
    </div>
  );
});

const GroupNode = memo(function GroupNode({ id, data, selected }: NodeProps<GroupFlowNode>) {
  const { editable, resize } = useContext(Actions);
  return (
    <div className={selected ? "dgroup dgroup--selected" : "dgroup"} data-testid="dashboard-group">
      <NodeResizer
        isVisible={editable && selected}
        minWidth={160}
        minHeight={100}
        onResizeStart={(_, p) => resize(id, "start", p)}
        onResize={(_, p) => resize(id, "resize", p)}
        onResizeEnd={(_, p) => resize(id, "end", p)}
      />
      <div className="dgroup__label">{data.group.label || "Group"}</div>
    </div>
  );
});

const NODE_TYPES = { entity: EntityNode, note: NoteNode, group: GroupNode };

function minimapColour(node: Node): string {
  if (node.type === "group") return "transparent";
  if (node.type === "note") return "#eab308";
  const d = node.data as EntityData;
  if (!d.entity || d.entity.restricted) return "#9ca3af";
  const state = healthOf(d.status?.health);
  if (state === "failing") return "#dc2626";
  if (state === "breached") return "#d97706";
  if (state === "ok") return "#16a34a";
  return d.node.kind === "process" ? "#8b5cf6" : "#6366f1";
}

/* Canvas ----------------------------------------------------------------------------------------- */

function Flow(props: CanvasProps) {
  const { layout, entities, statuses, editable, selected, onSelect, onPreview, onCommit, onDropItem, fitOnOpen, apiRef } =
    props;
  const rf = useReactFlow();
  const { resolved } = useTheme();
  const latest = useRef(layout);
  useEffect(() => {
    latest.current = layout;
  });
  const wrapper = useRef<HTMLDivElement>(null);
  // Sizes React Flow measured: kept so re-derived nodes stay measured (and visible).
  const [measured, setMeasured] = useState<Record<string, Size>>({});
  const dragFrom = useRef<DashboardLayout | null>(null);
  const resizeFrom = useRef<DashboardLayout | null>(null);

  const nodes = useMemo<FlowNode[]>(() => {
    const out: FlowNode[] = layout.groups.map((g) => ({
      id: g.id,
      type: "group",
      position: g.position,
      width: g.size.width,
      height: g.size.height,
      measured: g.size,
      data: { group: g },
      selected: selected.has(g.id),
      zIndex: -1,
      ariaLabel: `Group ${g.label || "without a label"}`,
    }));
    const groupIds = new Set(layout.groups.map((g) => g.id));
    for (const n of layout.nodes) {
      const parentId = n.parent && groupIds.has(n.parent) ? n.parent : undefined;
      const common = {
        id: n.id,
        position: n.position,
        parentId,
        selected: selected.has(n.id),
        measured: n.size ?? measured[n.id],
      };
      if (n.kind === "note") {
        const size = n.size ?? NOTE_SIZE;
        out.push({ ...common, type: "note", width: size.width, height: size.height, measured: size, data: { node: n }, ariaLabel: `Note: ${n.text ?? ""}` });
      } else {
        const entity = n.ref ? entities[n.ref] : undefined;
        const status = n.ref ? statuses[n.ref] : undefined;
        const state = HEALTH_INFO[healthOf(status?.health)].label;
        out.push({
          ...common,
          type: "entity",
          data: { node: n, entity, status },
          ariaLabel: `${n.kind === "process" ? "Process" : "Dataset"} ${entityTitle(n.kind, entity)}${entity && !entity.restricted ? `, ${state}` : ""}`,
        });
      }
    }
    return out;
  }, [layout, entities, statuses, selected, measured]);

  const edges = useMemo<Edge[]>(
    () =>
      layout.edges.map((e) => ({
        id: e.id,
        source: e.source,
        target: e.target,
        type: "smoothstep",
        label: e.label,
        selected: selected.has(e.id),
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
        className: "dedge",
        labelBgPadding: [6, 3] as [number, number],
        labelBgBorderRadius: 4,
      })),
    [layout.edges, selected],
  );

  const select = useCallback(
    (changes: { id: string; selected: boolean }[]) => {
      if (!changes.length) return;
      const next = new Set(selected);
      for (const c of changes) {
        if (c.selected) next.add(c.id);
        else next.delete(c.id);
      }
      onSelect(next);
    },
    [selected, onSelect],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      const moves = new Map<string, XY>();
      const keyed = new Map<string, XY>();
      const sizes: Record<string, Size> = {};
      const selections: { id: string; selected: boolean }[] = [];
      for (const c of changes) {
        if (c.type === "position" && c.position && c.dragging) moves.set(c.id, c.position);
        else if (c.type === "position" && c.position && !dragFrom.current) keyed.set(c.id, c.position);
        else if (c.type === "dimensions" && c.dimensions && !c.resizing) sizes[c.id] = c.dimensions;
        else if (c.type === "select") selections.push({ id: c.id, selected: c.selected });
      }
      if (Object.keys(sizes).length) {
        setMeasured((m) => {
          const same = Object.entries(sizes).every(([id, s]) => m[id]?.width === s.width && m[id]?.height === s.height);
          return same ? m : { ...m, ...sizes };
        });
      }
      if (keyed.size && editable) onCommit(moveItems(latest.current, keyed)); // arrow keys
      if (moves.size && editable) {
        dragFrom.current ??= latest.current;
        onPreview(moveItems(latest.current, moves));
      }
      select(selections);
    },
    [editable, onPreview, onCommit, select],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      select(changes.flatMap((c) => (c.type === "select" ? [{ id: c.id, selected: c.selected }] : [])));
    },
    [select],
  );

  const onNodeDragStop = useCallback(
    (_e: unknown, _node: FlowNode, dragged: FlowNode[]) => {
      const from = dragFrom.current;
      dragFrom.current = null;
      if (!from || !editable) return;
      let next = latest.current;
      for (const n of dragged) {
        if (n.type === "group") continue;
        const size = n.measured?.width && n.measured.height ? { width: n.measured.width, height: n.measured.height } : { width: 200, height: 60 };
        next = reparent(next, n.id, size);
      }
      onCommit(next, from);
    },
    [editable, onCommit],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (!editable || !c.source || !c.target) return;
      const l = latest.current;
      const next = addEdge(l, { id: newId("e", l), source: c.source, target: c.target });
      if (next !== l) onCommit(next);
    },
    [editable, onCommit],
  );

  const onDelete: OnDelete<FlowNode, Edge> = useCallback(
    ({ nodes: gone, edges: goneEdges }) => {
      if (!editable) return;
      // Deleting a group keeps what is inside it (React Flow would take the members too).
      const groups = new Set(gone.filter((n) => n.type === "group").map((n) => n.id));
      const ids = [
        ...gone.filter((n) => !(n.parentId && groups.has(n.parentId) && !selected.has(n.id))).map((n) => n.id),
        ...goneEdges.map((e) => e.id),
      ];
      const next = removeItems(latest.current, ids);
      if (next !== latest.current) {
        onCommit(next);
        onSelect(new Set());
      }
    },
    [editable, onCommit, onSelect, selected],
  );

  const actions = useMemo<CanvasActions>(
    () => ({
      editable,
      resize: (id, phase, rect) => {
        if (!editable) return;
        if (phase === "start") {
          resizeFrom.current = latest.current;
          return;
        }
        const l = latest.current;
        const size = { width: Math.round(rect.width), height: Math.round(rect.height) };
        const position = { x: Math.round(rect.x), y: Math.round(rect.y) };
        const next = l.groups.some((g) => g.id === id)
          ? updateGroup(l, id, { size, position })
          : updateNode(l, id, { size, position });
        if (phase === "resize") onPreview(next);
        else {
          onCommit(next, resizeFrom.current ?? l);
          resizeFrom.current = null;
        }
      },
    }),
    [editable, onPreview, onCommit],
  );

  // What the editor may ask of the canvas.
  useEffect(() => {
    apiRef.current = {
      viewport: () => rf.getViewport(),
      centre: () => {
        const box = wrapper.current?.getBoundingClientRect();
        if (!box) return { x: 0, y: 0 };
        return rf.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 });
      },
      fit: () => void rf.fitView({ padding: 0.15, maxZoom: 1.2, duration: 200 }),
      autoLayout: async (l) => {
        const sizeOf = (n: LayoutNode): Size => {
          const internal = rf.getInternalNode(n.id);
          const w = internal?.measured.width;
          const h = internal?.measured.height;
          return w && h ? { width: w, height: h } : (n.size ?? { width: 220, height: 80 });
        };
        const positions = await layoutBoxes(
          l.nodes.map((n) => ({ id: n.id, ...sizeOf(n) })),
          l.edges,
        );
        return applyPositions(l, positions);
      },
    };
    return () => {
      apiRef.current = null;
    };
  }, [apiRef, rf]);

  // Open on the whole canvas when asked (a new dashboard, one started from lineage).
  const fitted = useRef(false);
  useEffect(() => {
    if (!fitOnOpen || fitted.current || !layout.nodes.length) return;
    if (!layout.nodes.every((n) => n.kind === "note" || measured[n.id] || n.size)) return;
    fitted.current = true;
    void rf.fitView({ padding: 0.15, maxZoom: 1 });
  }, [fitOnOpen, layout.nodes, measured, rf]);

  const onDragOver = (e: DragEvent) => {
    if (!editable || !e.dataTransfer.types.includes(DRAG_TYPE)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  };
  const onDrop = (e: DragEvent) => {
    if (!editable) return;
    const raw = e.dataTransfer.getData(DRAG_TYPE);
    if (!raw) return;
    e.preventDefault();
    try {
      const item = JSON.parse(raw) as DragItem;
      onDropItem(item, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
    } catch {
      // Not ours.
    }
  };

  return (
    <div ref={wrapper} className="dcanvas__flow" onDragOver={onDragOver} onDrop={onDrop}>
      <Actions.Provider value={actions}>
        <ReactFlow<FlowNode, Edge>
          nodes={nodes}
          edges={edges}
          nodeTypes={NODE_TYPES}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onNodeDragStop={onNodeDragStop}
          onConnect={onConnect}
          onDelete={onDelete}
          isValidConnection={(c) => c.source !== c.target}
          nodesDraggable={editable}
          nodesConnectable={editable}
          elementsSelectable
          snapToGrid
          snapGrid={[GRID, GRID]}
          connectionLineType={ConnectionLineType.SmoothStep}
          defaultEdgeOptions={{ type: "smoothstep" }}
          defaultViewport={fitOnOpen ? undefined : layout.viewport}
          deleteKeyCode={editable ? ["Delete", "Backspace"] : null}
          zoomOnDoubleClick={false}
          minZoom={0.1}
          maxZoom={2.5}
          colorMode={resolved}
          proOptions={{ hideAttribution: true }}
        >
          <Background gap={GRID} size={1.2} />
          <Controls position="bottom-left" showInteractive={false} />
          <MiniMap
            pannable
            zoomable
            nodeColor={minimapColour}
            nodeStrokeWidth={2}
            nodeBorderRadius={6}
            position="bottom-right"
            ariaLabel="Overview of the whole dashboard"
            style={{ width: 168, height: 104 }}
          />
        </ReactFlow>
      </Actions.Provider>
    </div>
  );
}

export default function Canvas(props: CanvasProps) {
  return (
    <div className="dcanvas lineage-canvas" style={{ height: props.height }} data-testid="dashboard-canvas">
      <ReactFlowProvider>
        <Flow {...props} />
      </ReactFlowProvider>
    </div>
  );
}
