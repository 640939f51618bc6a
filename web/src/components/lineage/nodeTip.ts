/**
 * Where a graph node's hover card goes. React Flow's NodeToolbar is centred above the node by
 * default, so for a node near the pane's top or side edge the card was cut off by the pane.
 * The card goes below a node near the top, and lines up with the node's start or end near a side.
 */
import { Position } from "@xyflow/react";
import { useCallback, useState, type MouseEvent } from "react";

const TIP_WIDTH = 280; // .lnode-tip
const TIP_HEIGHT = 200; // the tallest card, with its offset

export interface TipPlacement {
  position: Position;
  align: "start" | "center" | "end";
}

const ABOVE: TipPlacement = { position: Position.Top, align: "center" };

export function tipPlacement(node: Element): TipPlacement {
  const pane = node.closest(".react-flow")?.getBoundingClientRect();
  if (!pane) return ABOVE;
  const r = node.getBoundingClientRect();
  const overhang = (TIP_WIDTH - r.width) / 2; // how far a centred card sticks out each side
  return {
    position: r.top - pane.top < TIP_HEIGHT ? Position.Bottom : Position.Top,
    align: r.left - pane.left < overhang ? "start" : pane.right - r.right < overhang ? "end" : "center",
  };
}

/** Hover state for a node plus where its card fits, measured when the pointer comes in. */
export function useNodeTip() {
  const [hover, setHover] = useState(false);
  const [placement, setPlacement] = useState<TipPlacement>(ABOVE);
  const onMouseEnter = useCallback((e: MouseEvent<Element>) => {
    setPlacement(tipPlacement(e.currentTarget));
    setHover(true);
  }, []);
  const onMouseLeave = useCallback(() => setHover(false), []);
  return { hover, placement, onMouseEnter, onMouseLeave };
}
