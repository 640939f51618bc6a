/**
 * A text box whose value follows into the URL after a pause (search as you type), without
 * losing what else changes in the URL meanwhile.
 *
 * React Router's functional `setSearchParams(prev => …)` hands `prev` from the render that
 * created the setter, not the URL of the moment: a debounced push built on it undoes a filter
 * or a navigation made during the pause. Here the push reads the newest URL when it fires, and a
 * change of the text in the URL from elsewhere (header search, back button) drops the pending
 * push and shows the URL's text instead.
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router";

export interface DebouncedUrlText {
  /** What the box shows (ahead of the URL while a push is pending). */
  text: string;
  /** Call on each keystroke: shows the text at once, pushes it to the URL after the pause. */
  onType: (value: string) => void;
  /**
   * Cancel the pending push because the caller writes the URL itself now (a filter change),
   * with `next` as the text when given (else what was typed). Returns the text to write.
   */
  take: (next?: string) => string;
}

export function useDebouncedUrlText(
  key: string,
  /** The URL to go to for a text, from the newest URL (keep everything else in it). */
  write: (latest: URLSearchParams, text: string) => URLSearchParams,
  delay = 200,
): DebouncedUrlText {
  const [params, setParams] = useSearchParams();
  const urlText = params.get(key) ?? "";
  const [text, setText] = useState(urlText);
  const latest = useRef({ params, setParams, write });
  const pushed = useRef(urlText);
  const typed = useRef(urlText);
  const timer = useRef<number | undefined>(undefined);

  useLayoutEffect(() => {
    latest.current = { params, setParams, write };
  });
  useEffect(() => () => window.clearTimeout(timer.current), []);

  useEffect(() => {
    if (urlText === pushed.current) return; // our own push (or nothing new)
    window.clearTimeout(timer.current);
    pushed.current = urlText;
    typed.current = urlText;
    setText(urlText);
  }, [urlText]);

  const onType = useCallback(
    (value: string) => {
      setText(value);
      typed.current = value;
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(() => {
        const { params: now, setParams: set, write: build } = latest.current;
        const next = build(new URLSearchParams(now), value);
        pushed.current = next.get(key) ?? "";
        set(next, { replace: true });
      }, delay);
    },
    [key, delay],
  );

  const take = useCallback((next?: string) => {
    window.clearTimeout(timer.current);
    const value = next ?? typed.current;
    typed.current = value;
    pushed.current = value;
    setText(value);
    return value;
  }, []);

  return { text, onType, take };
}
