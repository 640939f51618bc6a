/**
 * The lineage canvas (React Flow + ELK layered layout). Loaded lazily: it is the only module
 * that imports @xyflow/react and elkjs, so other screens do not pay for them.
 */
import "@xyflow/react/dist/style.css";
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  NodeToolbar,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useNodesState,
  useReactFlow,
  useStore,
  useStoreApi,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import { useNavigate } from "react-router";
import { healthLabel } from "../../lib/feed";
import { FIT_PADDING, boundsOf, fitPlan, nodeTitle, type FitPlan, type LGraph, type LNode } from "../../lib/lineage";
import { useTheme } from "../../lib/theme";
import { platformLabel } from "../datasets";
import { HealthIcon } from "../health";
import { useNodeTip } from "./nodeTip";
import { CheckIcon, CogIcon, ExpandIcon, LockIcon } from "../icons";
import { layout, sizeOf } from "./layout";

export interface LineageGraphProps {
  graph: LGraph;
  rootId: string | undefined;
  expanded: ReadonlySet<string>;
  expanding: string | null;
  onExpand: (node: LNode) => void;
  /** Where a node opens (a dataset's or a process's page); null: it opens nothing. */
  hrefFor: (node: LNode) => string | null;
  /** Where to centre when the whole graph is too wide to read (the last expanded node). */
  focusId?: string | null;
  height?: number | string;
}

interface NodeData extends Record<string, unknown> {
  node: LNode;
  isRoot: boolean;
  expanded: boolean;
  expanding: boolean;
  onExpand: (node: LNode) => void;
}

type FlowNode = Node<NodeData, "lineage">;

export function depthText(n: LNode): string {
  if (n.side === "root") return "Starting point";
  const hops = `${n.depth} ${n.depth === 1 ? "hop" : "hops"}`;
  if (n.side === "upstream") return `${hops} upstream`;
  if (n.side === "downstream") return `${hops} downstream`;
  return `${hops} away (expanded)`;
}

export function describeNode(n: LNode): string {
  const kind = n.kind === "process" ? "Process" : "Dataset";
  if (n.restricted) return `Restricted ${kind.toLowerCase()}, ${depthText(n)}`;
  const health = n.health ? `, health ${healthLabel(n.health)}` : "";
  return `${kind} ${n.name}${health}, ${depthText(n)}`;
}

function Tooltip({ n }: { n: LNode }) {
  if (n.restricted) {
    return (
      <div className="lnode-tip" role="tooltip">
        <div className="lnode-tip__title">{nodeTitle(n)}</div>
        <p className="lnode-tip__note">You do not have access to it; it is shown so the path stays true.</p>
        <dl>
          <dt>Depth</dt>
          <dd>{depthText(n)}</dd>
        </dl>
      </div>
    );
  }
  return (
    <div className="lnode-tip" role="tooltip">
      <div className="lnode-tip__title">{n.name}</div>
      <dl>
        <dt>Namespace</dt>
        <dd className="mono">{n.namespace ?? "—"}</dd>
        {n.kind === "dataset" ? (
          <>
            <dt>Platform</dt>
            <dd>{n.platform ? platformLabel(n.platform) : "—"}</dd>
            {n.visibility ? (
              <>
                <dt>Visibility</dt>
                <dd>{n.visibility.charAt(0).toUpperCase() + n.visibility.slice(1)}</dd>
              </>
            ) : null}
          </>
        ) : null}
        <dt>Depth</dt>
        <dd>{depthText(n)}</dd>
        <dt>{n.kind === "process" ? "Last run" : "Health"}</dt>
        <dd className={`lnode-tip__health lnode-tip__health--${n.health ?? "none"}`}>
          {n.health ? (
            <>
              <HealthIcon status={n.health} /> {healthLabel(n.health)}
            </>
          ) : n.kind === "process" ? (
            "No run reported"
          ) : (
            "Not monitored"
          )}
        </dd>
      </dl>
    </div>
  );
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

const LineageNode = memo(function LineageNode({ data, selected }: NodeProps<FlowNode>) {
  const { node: n, isRoot, expanded, expanding, onExpand } = data;
  const { hover, placement, onMouseEnter, onMouseLeave } = useNodeTip();
  const kindClass = n.restricted ? "restricted" : n.kind;
  const classes = [
    "lnode",
    `lnode--${kindClass}`,
    n.health && !n.restricted ? `lnode--${n.health}` : "",
    isRoot ? "lnode--root" : "",
    selected ? "lnode--selected" : "",
  ]
    .filter(Boolean)
    .join(" ");
  const canExpand = !n.restricted;
  return (
    <div
      className={classes}
      style={sizeOf(n)}
      onMouseEnter={onMouseEnter}
      onMouseLeave={onMouseLeave}
      data-testid="lineage-node"
      data-kind={n.kind}
      data-restricted={n.restricted || undefined}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <NodeToolbar isVisible={hover || selected} position={placement.position} align={placement.align} offset={8}>
        <Tooltip n={n} />
      </NodeToolbar>
      <span className="lnode__icon" aria-hidden="true">
        {n.restricted ? <LockIcon /> : n.kind === "process" ? <CogIcon /> : (n.platform ?? "?").slice(0, 2)}
      </span>
      <div className="lnode__text">
        <div className="lnode__name" title={n.restricted ? undefined : (n.name ?? undefined)}>
          {breakable(nodeTitle(n))}
        </div>
        <div className="lnode__sub">
          {n.restricted
            ? "No access"
            : n.kind === "process"
              ? `Job · ${n.namespace ?? ""}`
              : (n.namespace ?? "")}
        </div>
        {!n.restricted && n.health ? (
          <div className={`lnode__health lnode__health--${n.health}`}>
            <HealthIcon status={n.health} />
            {n.kind === "process" ? `Last run ${healthLabel(n.health).toLowerCase()}` : healthLabel(n.health)}
          </div>
        ) : null}
      </div>
      {isRoot ? <span className="lnode__badge">Start</span> : null}
      {canExpand ? (
        <button
          type="button"
          className="lnode__expand nodrag"
          aria-label={expanded ? `${nodeTitle(n)}: neighbours shown` : `Expand ${nodeTitle(n)}`}
          title={expanded ? "Neighbours shown" : "Expand: show its direct neighbours"}
          disabled={expanded || expanding}
          aria-busy={expanding || undefined}
          onClick={(e) => {
            e.stopPropagation();
            onExpand(n);
          }}
          onDoubleClick={(e) => e.stopPropagation()}
        >
          {expanding ? <span className="spinner" aria-hidden="true" /> : expanded ? <CheckIcon /> : <ExpandIcon />}
        </button>
      ) : null}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const NODE_TYPES = { lineage: LineageNode };
/** Below this zoom node names are too small to read. */
const MIN_READABLE_ZOOM = 0.35;
const FIT_PADDING_PX = {
  top: `${FIT_PADDING.top}px`,
  right: `${FIT_PADDING.right}px`,
  bottom: `${FIT_PADDING.bottom}px`,
  left: `${FIT_PADDING.left}px`,
} as const;

function minimapColour(node: Node): string {
  const n = (node.data as NodeData).node;
  if (n.restricted) return "#9ca3af";
  if (n.health === "error") return "#dc2626";
  return n.kind === "process" ? "#8b5cf6" : "#6366f1";
}

function Flow({
  graph,
  rootId,
  expanded,
  expanding,
  onExpand,
  hrefFor,
  focusId,
  maxHeight,
  onHeight,
}: LineageGraphProps & { maxHeight: () => number; onHeight: (height: number) => void }) {
  const navigate = useNavigate();
  const { fitView, setCenter } = useReactFlow();
  const store = useStoreApi();
  const [plan, setPlan] = useState<(FitPlan & { centre: { x: number; y: number } | null }) | null>(null);
  const whole = plan?.fits ?? true;
  const { resolved } = useTheme();
  const [nodes, setNodes, onNodesChange] = useNodesState<FlowNode>([]);
  const onExpandRef = useRef(onExpand);
  useEffect(() => {
    onExpandRef.current = onExpand;
  });
  const stableExpand = useMemo(() => (n: LNode) => onExpandRef.current(n), []);

  // Lay out whenever the set of nodes or edges changes; keep what else the user did.
  const [ready, setReady] = useState(false);
  useEffect(() => {
    let cancelled = false;
    layout(graph).then((positions) => {
      if (cancelled) return;
      setReady(false);
      setNodes(
        graph.nodes.map((n) => ({
          id: n.id,
          type: "lineage",
          position: positions.get(n.id) ?? { x: 0, y: 0 },
          data: { node: n, isRoot: n.id === rootId, expanded: false, expanding: false, onExpand: stableExpand },
          ariaLabel: describeNode(n),
          selectable: true,
          ...sizeOf(n),
        })),
      );
      // The whole graph, fitted, in a canvas as tall as it needs (no empty band); a graph too
      // big to read whole opens at a readable zoom on the starting point (or the node just
      // expanded), with the overview map to find the rest.
      const bounds = boundsOf(graph.nodes.map((n) => ({ ...(positions.get(n.id) ?? { x: 0, y: 0 }), ...sizeOf(n) })));
      const fit = fitPlan(bounds, store.getState().width || 800, maxHeight(), { minZoom: MIN_READABLE_ZOOM });
      const focus = graph.nodes.find((n) => n.id === focusId) ?? graph.nodes.find((n) => n.id === rootId);
      const at = focus ? positions.get(focus.id) : undefined;
      const centre = focus && at ? { x: at.x + sizeOf(focus).width / 2, y: at.y + sizeOf(focus).height / 2 } : null;
      onHeight(fit.height);
      setPlan({ ...fit, centre });
    });
    return () => {
      cancelled = true;
    };
  }, [graph, rootId, focusId, setNodes, stableExpand, store, maxHeight, onHeight]);

  // Place the view once the canvas has taken the planned height (ResizeObserver updates the
  // store's height after the DOM changes), or shortly after in any case.
  const flowHeight = useStore((st) => st.height);
  useEffect(() => {
    if (!plan) return;
    let cancelled = false;
    const place = () => {
      if (cancelled) return;
      // One jump, no animation: the graph appears where it stays (and can be clicked at once).
      const done = () => !cancelled && setReady(true);
      if (plan.fits || !plan.centre) {
        void fitView({ padding: FIT_PADDING_PX, maxZoom: 1, minZoom: plan.fits ? 0.05 : MIN_READABLE_ZOOM }).then(done);
      } else {
        void setCenter(plan.centre.x, plan.centre.y, { zoom: MIN_READABLE_ZOOM }).then(done);
      }
    };
    const settled = Math.abs(flowHeight - plan.height) <= 1;
    const timer = settled
      ? window.requestAnimationFrame(place)
      : window.setTimeout(place, 300); // a height the container cannot take: place anyway
    return () => {
      cancelled = true;
      if (settled) window.cancelAnimationFrame(timer);
      else window.clearTimeout(timer);
    };
  }, [plan, flowHeight, fitView, setCenter]);

  // Expansion flags change without a new layout.
  const shown = useMemo(
    () =>
      nodes.map((fn) => {
        const isExpanded = expanded.has(fn.id);
        const isExpanding = expanding === fn.id;
        if (fn.data.expanded === isExpanded && fn.data.expanding === isExpanding) return fn;
        return { ...fn, data: { ...fn.data, expanded: isExpanded, expanding: isExpanding } };
      }),
    [nodes, expanded, expanding],
  );

  const edges = useMemo<Edge[]>(
    () =>
      graph.edges.map((e) => ({
        id: `${e.source}->${e.target}`,
        source: e.source,
        target: e.target,
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
        className: "ledge",
        focusable: false,
      })),
    [graph.edges],
  );

  // A click opens a dataset's or a process's page; wait a moment so a double-click can expand instead.
  const clickTimer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(clickTimer.current), []);
  const onNodeClick = (_e: MouseEvent, fn: FlowNode) => {
    const href = hrefFor(fn.data.node);
    if (!href) return;
    window.clearTimeout(clickTimer.current);
    clickTimer.current = window.setTimeout(() => navigate(href), 260);
  };
  const onNodeDoubleClick = (_e: MouseEvent, fn: FlowNode) => {
    window.clearTimeout(clickTimer.current);
    const n = fn.data.node;
    if (!n.restricted && !expanded.has(n.id)) onExpandRef.current(n);
  };

  return (
    <ReactFlow
      className={ready ? undefined : "lineage-flow--placing"}
      nodes={shown}
      edges={edges}
      nodeTypes={NODE_TYPES}
      onNodesChange={onNodesChange}
      onNodeClick={onNodeClick}
      onNodeDoubleClick={onNodeDoubleClick}
      nodesConnectable={false}
      edgesFocusable={false}
      zoomOnDoubleClick={false}
      minZoom={0.15}
      maxZoom={2}
      colorMode={resolved}
      proOptions={{ hideAttribution: true }}
      deleteKeyCode={null}
      ariaLabelConfig={{
        "node.a11yDescription.default":
          "Press Enter or Space to select it and show its details. Its expand button shows its neighbours.",
        "node.a11yDescription.keyboardDisabled":
          "Press Enter or Space to select it and show its details. Its expand button shows its neighbours.",
      }}
    >
      <Background gap={20} size={1.2} />
      <Controls showInteractive={false} position="bottom-left" />
      {whole ? null : (
        <MiniMap
          pannable
          zoomable
          nodeColor={minimapColour}
          nodeStrokeWidth={2}
          nodeBorderRadius={8}
          position="bottom-right"
          ariaLabel="Overview of the whole graph"
          style={{ width: 168, height: 104 }}
        />
      )}
    </ReactFlow>
  );
}

export default function LineageGraph(props: LineageGraphProps) {
  const tallest = props.height ?? 560;
  // The height the canvas may take (a CSS length, e.g. relative to the window), in pixels.
  const probe = useRef<HTMLDivElement>(null);
  const maxHeight = useCallback(
    () => probe.current?.clientHeight || (typeof tallest === "number" ? tallest : 560),
    [tallest],
  );
  const [height, setHeight] = useState<number | null>(null);
  return (
    <div className="lineage-canvas" style={{ height: height ?? tallest }} data-testid="lineage-canvas">
      <div ref={probe} aria-hidden="true" className="lineage-canvas__probe" style={{ height: tallest }} />
      <ReactFlowProvider>
        <Flow {...props} maxHeight={maxHeight} onHeight={setHeight} />
      </ReactFlowProvider>
    </div>
  );
}
