/**
 * Undo/redo over immutable documents. A drag changes the document many times a second: those
 * changes go to `present` only (`preview`), and the drag's end records one step from where it
 * started (`commit` with `from`), so one Ctrl+Z undoes the whole drag.
 */

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

export const HISTORY_LIMIT = 100;

export function createHistory<T>(present: T): History<T> {
  return { past: [], present, future: [] };
}

/** A new step: `next` becomes the present; `from` (default: the present) is what undo returns to. */
export function commit<T>(h: History<T>, next: T, from: T = h.present, limit = HISTORY_LIMIT): History<T> {
  if (next === from) return h.present === next ? h : { ...h, present: next };
  const past = [...h.past, from];
  return { past: past.length > limit ? past.slice(past.length - limit) : past, present: next, future: [] };
}

/** Show a change without recording a step (during a drag). */
export function preview<T>(h: History<T>, next: T): History<T> {
  return next === h.present ? h : { ...h, present: next };
}

export function undo<T>(h: History<T>): History<T> {
  if (!h.past.length) return h;
  const previous = h.past[h.past.length - 1] as T;
  return { past: h.past.slice(0, -1), present: previous, future: [h.present, ...h.future] };
}

export function redo<T>(h: History<T>): History<T> {
  if (!h.future.length) return h;
  const [next, ...rest] = h.future as [T, ...T[]];
  return { past: [...h.past, h.present], present: next, future: rest };
}

export const canUndo = <T>(h: History<T>) => h.past.length > 0;
export const canRedo = <T>(h: History<T>) => h.future.length > 0;

/** Which history command a key press means (Ctrl/⌘+Z, Ctrl/⌘+Shift+Z, Ctrl+Y), if any. */
export function historyKey(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">): "undo" | "redo" | null {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return null;
  const key = e.key.toLowerCase();
  if (key === "z") return e.shiftKey ? "redo" : "undo";
  if (key === "y" && !e.shiftKey) return "redo";
  return null;
}
