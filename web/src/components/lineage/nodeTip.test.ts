import { Position } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import { tipPlacement } from "./nodeTip";

function rect(left: number, top: number, width: number, height: number): DOMRect {
  return { left, top, width, height, right: left + width, bottom: top + height, x: left, y: top, toJSON: () => ({}) };
}

/** A node inside a 800x500 graph pane at (100, 100) on the page. */
function nodeAt(left: number, top: number): Element {
  const pane = document.createElement("div");
  pane.className = "react-flow";
  pane.getBoundingClientRect = () => rect(100, 100, 800, 500);
  const node = document.createElement("div");
  node.getBoundingClientRect = () => rect(left, top, 200, 60);
  pane.appendChild(node);
  return node;
}

describe("tipPlacement", () => {
  it("puts the card centred above a node with room around it", () => {
    expect(tipPlacement(nodeAt(400, 400))).toEqual({ position: Position.Top, align: "center" });
  });
  it("puts the card below a node near the top of the pane", () => {
    expect(tipPlacement(nodeAt(400, 120)).position).toBe(Position.Bottom);
  });
  it("lines the card up with the node's start near the left edge and its end near the right", () => {
    expect(tipPlacement(nodeAt(110, 400)).align).toBe("start");
    expect(tipPlacement(nodeAt(880 - 200 + 10, 400)).align).toBe("end");
  });
  it("keeps the default outside a graph pane", () => {
    expect(tipPlacement(document.createElement("div"))).toEqual({ position: Position.Top, align: "center" });
  });
});
