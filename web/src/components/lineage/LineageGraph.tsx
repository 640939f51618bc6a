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
import { fieldText } from "../../lib/columns";
import {
  FIT_PADDING,
  boundsOf,
  fitPlan,
  moreLabel,
  moreOf,
  nodeTitle,
  type FitPlan,
  type LGraph,
  type LNode,
  type MoreDirection,
} from "../../lib/lineage";
import { useTheme } from "../../lib/theme";
import { platformLabel } from "../datasets";
import { HealthIcon } from "../health";
import { useNodeTip } from "./nodeTip";
import { CheckIcon, CogIcon, ExpandIcon, LockIcon } from "../icons";
import { layout, sizeOf } from "./layout";
import "./lineage.css";

/** A column's path lit up on the canvas: its nodes (with the path's fields) and links. */
export interface CanvasHighlight {
  nodes: ReadonlySet<string>;
  edges: ReadonlySet<string>;
  fields: ReadonlyMap<string, string[]>;
  /** What is lit, for the canvas's label ("orders.amount"). */
  label: string;
}

export interface LineageGraphProps {
  graph: LGraph;
  rootId: string | undefined;
  expanded: ReadonlySet<string>;
  expanding: string | null;
  onExpand: (node: LNode) => void;
  /** Where a node opens (a dataset's or a process's page); null: it opens nothing. */
  hrefFor: (node: LNode) => string | null;
  /** Fetch and draw what lies beyond a frontier node on one side ("+N more"). */
  onMore?: (node: LNode, direction: MoreDirection) => void;
  /** The node and side being fetched for "+N more". */
  loadingMore?: { id: string; direction: MoreDirection } | null;
  /** Whether the "+N more" counts are exact (else lower bounds). */
  moreExact?: boolean;
  /** A column's path to light up (the rest is dimmed). */
  highlight?: CanvasHighlight | null;
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
  onMore: (node: LNode, direction: MoreDirection) => void;
  loadingMore: MoreDirection | null;
  moreExact: boolean;
  /** Lit (on the column path), dimmed (a path is shown and this is not on it), or neither. */
  lit: "on" | "off" | null;
  fields: string[] | null;
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

function MoreButton({
  n,
  direction,
  count,
  exact,
  loading,
  onMore,
}: {
  n: LNode;
  direction: MoreDirection;
  count: number;
  exact: boolean;
  loading: boolean;
  onMore: (node: LNode, direction: MoreDirection) => void;
}) {
  const label = moreLabel(count, exact);
  const where = direction === "upstream" ? "upstream of" : "downstream of";
  const text = direction === "upstream" ? `← ${label}` : `${label} →`;
  if (n.restricted) {
    // Counted, but a hidden node cannot be asked about: nothing to expand from here.
    return (
      <span
        className={`lnode__more lnode__more--${direction} lnode__more--static`}
        data-testid={`more-${direction}`}
        title={`${label} ${where} a node you cannot see`}
      >
        {text}
      </span>
    );
  }
  return (
    <button
      type="button"
      className={`lnode__more lnode__more--${direction} nodrag`}
      data-testid={`more-${direction}`}
      aria-label={`Show ${count.toLocaleString("en-US")}${exact ? "" : " or more"} ${count === 1 && exact ? "node" : "nodes"} ${where} ${nodeTitle(n)}`}
      title={
        exact
          ? `${label} ${where} it, not drawn: click to draw the next level`
          : `At least ${count.toLocaleString("en-US")} ${where} it, not drawn: click to draw the next level`
      }
      disabled={loading}
      aria-busy={loading || undefined}
      onClick={(e) => {
        e.stopPropagation();
        onMore(n, direction);
      }}
      onDoubleClick={(e) => e.stopPropagation()}
    >
      {loading ? <span className="spinner" aria-hidden="true" /> : null}
      {text}
    </button>
  );
}

const LineageNode = memo(function LineageNode({ data, selected }: NodeProps<FlowNode>) {
  const { node: n, isRoot, expanded, expanding, onExpand, onMore, loadingMore, moreExact, lit, fields } = data;
  const moreUp = moreOf(n, "upstream");
  const moreDown = moreOf(n, "downstream");
  const { hover, placement, onMouseEnter, onMouseLeave } = useNodeTip();
  const kindClass = n.restricted ? "restricted" : n.kind;
  const classes = [
    "lnode",
    `lnode--${kindClass}`,
    n.health && !n.restricted ? `lnode--${n.health}` : "",
    isRoot ? "lnode--root" : "",
    selected ? "lnode--selected" : "",
    lit === "on" ? "lnode--lit" : lit === "off" ? "lnode--dim" : "",
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
      data-lit={lit ?? undefined}
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
      {fields && fields.length ? (
        <span className="lnode__fields" data-testid="lnode-fields" title={fields.map(fieldText).join(", ")}>
          {fields.length > 2 ? `${fieldText(fields[0])} +${fields.length - 1}` : fields.map(fieldText).join(", ")}
        </span>
      ) : null}
      {moreUp ? (
        <MoreButton
          n={n}
          direction="upstream"
          count={moreUp}
          exact={moreExact}
          loading={loadingMore === "upstream"}
          onMore={onMore}
        />
      ) : null}
      {moreDown ? (
        <MoreButton
          n={n}
          direction="downstream"
          count={moreDown}
          exact={moreExact}
          loading={loadingMore === "downstream"}
          onMore={onMore}
        />
      ) : null}
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
  onMore,
  loadingMore = null,
  moreExact = true,
  highlight = null,
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
  const onMoreRef = useRef(onMore);
  useEffect(() => {
    onMoreRef.current = onMore;
  });
  const stableMore = useMemo(() => (n: LNode, d: MoreDirection) => onMoreRef.current?.(n, d), []);

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
          data: {
            node: n,
            isRoot: n.id === rootId,
            expanded: false,
            expanding: false,
            onExpand: stableExpand,
            onMore: stableMore,
            loadingMore: null,
            moreExact: true,
            lit: null,
            fields: null,
          },
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
  }, [graph, rootId, focusId, setNodes, stableExpand, stableMore, store, maxHeight, onHeight]);

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

  // Expansion flags, "+N more" fetches and a column's path change without a new layout.
  const shown = useMemo(
    () =>
      nodes.map((fn) => {
        const isExpanded = expanded.has(fn.id);
        const isExpanding = expanding === fn.id;
        const more = loadingMore?.id === fn.id ? loadingMore.direction : null;
        const lit: NodeData["lit"] = highlight ? (highlight.nodes.has(fn.id) ? "on" : "off") : null;
        const fields = highlight?.fields.get(fn.id) ?? null;
        const d = fn.data;
        if (
          d.expanded === isExpanded &&
          d.expanding === isExpanding &&
          d.loadingMore === more &&
          d.moreExact === moreExact &&
          d.lit === lit &&
          d.fields === fields
        )
          return fn;
        return {
          ...fn,
          data: { ...d, expanded: isExpanded, expanding: isExpanding, loadingMore: more, moreExact, lit, fields },
        };
      }),
    [nodes, expanded, expanding, loadingMore, moreExact, highlight],
  );

  const edges = useMemo<Edge[]>(
    () =>
      graph.edges.map((e) => {
        const id = `${e.source}->${e.target}`;
        const lit = highlight ? highlight.edges.has(id) : null;
        return {
          id,
          source: e.source,
          target: e.target,
          markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
          className: lit === null ? "ledge" : lit ? "ledge ledge--lit" : "ledge ledge--dim",
          animated: lit === true,
          zIndex: lit ? 1 : 0,
          focusable: false,
        };
      }),
    [graph.edges, highlight],
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
      {highlight ? (
        <div className="lineage-canvas__lit" data-testid="canvas-highlight">
          Column path: <span className="mono">{highlight.label}</span>
        </div>
      ) : null}
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
