import { describe, expect, it } from "vitest";
import { canRedo, canUndo, commit, createHistory, historyKey, preview, redo, undo } from "./dashboardHistory";

describe("history", () => {
  it("undoes and redoes steps in order", () => {
    let h = createHistory("a");
    h = commit(h, "b");
    h = commit(h, "c");
    expect(canUndo(h)).toBe(true);
    h = undo(h);
    expect(h.present).toBe("b");
    h = undo(h);
    expect(h.present).toBe("a");
    expect(canUndo(h)).toBe(false);
    expect(undo(h)).toBe(h);
    h = redo(h);
    h = redo(h);
    expect(h.present).toBe("c");
    expect(canRedo(h)).toBe(false);
  });

  it("a new step after an undo drops the redo branch", () => {
    let h = commit(commit(createHistory(1), 2), 3);
    h = commit(undo(h), 4);
    expect(h.present).toBe(4);
    expect(canRedo(h)).toBe(false);
    expect(undo(h).present).toBe(2);
  });

  it("records a drag as one step from where it started", () => {
    let h = createHistory({ x: 0 });
    const start = h.present;
    h = preview(h, { x: 5 });
    h = preview(h, { x: 10 });
    h = preview(h, { x: 15 });
    h = commit(h, h.present, start);
    expect(h.past).toEqual([{ x: 0 }]);
    expect(undo(h).present).toEqual({ x: 0 });
  });

  it("a change that changes nothing is not a step", () => {
    const h = createHistory("a");
    expect(commit(h, "a")).toBe(h);
  });

  it("keeps a bounded number of steps", () => {
    let h = createHistory(0);
    for (let i = 1; i <= 10; i += 1) h = commit(h, i, h.present, 3);
    expect(h.past).toEqual([7, 8, 9]);
  });

  it("reads the keyboard shortcuts", () => {
    const k = (key: string, mods: Partial<Record<"ctrlKey" | "metaKey" | "shiftKey" | "altKey", boolean>> = {}) =>
      historyKey({ key, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });
    expect(k("z", { ctrlKey: true })).toBe("undo");
    expect(k("Z", { ctrlKey: true, shiftKey: true })).toBe("redo");
    expect(k("z", { metaKey: true })).toBe("undo");
    expect(k("y", { ctrlKey: true })).toBe("redo");
    expect(k("z")).toBeNull();
    expect(k("z", { ctrlKey: true, altKey: true })).toBeNull();
  });
});
