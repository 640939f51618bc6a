/**
 * The live feed: an EventSource on /api/feed/stream (the session cookies authenticate it).
 *
 * - Each message is one feed item; its `event` is the item's type, so we listen to every known
 *   type (EventSource only delivers named events it has a listener for).
 * - The browser reconnects by itself after a network drop and sends Last-Event-ID, so the server
 *   replays what was missed. When the server refuses the stream (401 after the access token
 *   expired, 503 when busy) EventSource gives up: we refresh the session and open a new one,
 *   passing the last id as `last_event_id`.
 * - `resync` means we fell too far behind: reload the list, then start a fresh stream.
 * - `session_ended` means the session was revoked: try one refresh, else sign in again.
 */
import { useEffect, useRef, useState } from "react";
import { buildUrl, notifyUnauthorized, refreshSession } from "../api/client";
import type { FeedItem } from "../api/types";
import { KNOWN_EVENT_TYPES } from "./feed";

export type StreamState = "connecting" | "live" | "reconnecting" | "offline";

export const STREAM_URL = "/api/feed/stream";

interface Options {
  onItem: (item: FeedItem) => void;
  /** The server lost track of us: reload the list from the API. */
  onResync?: () => void;
  enabled?: boolean;
}

const MAX_BACKOFF_MS = 30_000;

export function useFeedStream({ onItem, onResync, enabled = true }: Options): StreamState {
  const [state, setState] = useState<StreamState>("connecting");
  const onItemRef = useRef(onItem);
  const onResyncRef = useRef(onResync);
  useEffect(() => {
    onItemRef.current = onItem;
    onResyncRef.current = onResync;
  });

  const supported = typeof EventSource !== "undefined";

  useEffect(() => {
    if (!enabled || !supported) return;
    let source: EventSource | null = null;
    let lastId: string | null = null;
    let stopped = false;
    let failures = 0;
    let timer: number | undefined;

    const close = () => {
      source?.close();
      source = null;
    };

    const reopen = (delay: number, fresh = false) => {
      close();
      if (fresh) lastId = null;
      window.clearTimeout(timer);
      timer = window.setTimeout(open, delay);
    };

    /** The server refused or ended the stream: is the session still good? */
    const recover = async () => {
      close();
      setState("reconnecting");
      failures += 1;
      const ok = await refreshSession();
      if (stopped) return;
      if (!ok) {
        setState("offline");
        notifyUnauthorized();
        return;
      }
      reopen(Math.min(500 * 2 ** (failures - 1), MAX_BACKOFF_MS));
    };

    function open() {
      if (stopped) return;
      const es = new EventSource(buildUrl(STREAM_URL, { last_event_id: lastId }), { withCredentials: true });
      source = es;
      const onMessage = (e: MessageEvent<string>) => {
        if (e.lastEventId) lastId = e.lastEventId;
        try {
          onItemRef.current(JSON.parse(e.data) as FeedItem);
        } catch {
          // A malformed message is skipped; the next one still counts.
        }
      };
      for (const type of KNOWN_EVENT_TYPES) es.addEventListener(type, onMessage as EventListener);
      es.addEventListener("message", onMessage as EventListener);
      es.addEventListener("resync", () => {
        onResyncRef.current?.();
        // Start over from "now": the reloaded list covers what came before.
        reopen(0, true);
      });
      es.addEventListener("session_ended", () => {
        void recover();
      });
      es.onopen = () => {
        failures = 0;
        setState("live");
      };
      es.onerror = () => {
        if (stopped || source !== es) return;
        if (es.readyState === EventSource.CLOSED) void recover();
        else setState("reconnecting"); // the browser retries by itself, with Last-Event-ID
      };
    }

    // Leaving the page (reload, typed URL) errors the stream: that is no reason to refresh the
    // session. A refresh sent while the page unloads rotates the token on the server but its
    // new cookie is lost, and the next refresh then looks like token theft (session revoked).
    const onPageHide = () => {
      stopped = true;
      window.clearTimeout(timer);
      close();
    };
    // The stream errors as soon as a navigation starts, before pagehide: stop at beforeunload,
    // and start again if the page is still here a moment later (the user stayed).
    const onBeforeUnload = () => {
      onPageHide();
      timer = window.setTimeout(() => {
        stopped = false;
        open();
      }, 3000);
    };
    // Back from the back/forward cache: start again.
    const onPageShow = (e: PageTransitionEvent) => {
      if (!e.persisted || !stopped) return;
      stopped = false;
      setState("reconnecting");
      open();
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    window.addEventListener("pagehide", onPageHide);
    window.addEventListener("pageshow", onPageShow);

    open();
    return () => {
      window.removeEventListener("beforeunload", onBeforeUnload);
      window.removeEventListener("pagehide", onPageHide);
      window.removeEventListener("pageshow", onPageShow);
      stopped = true;
      window.clearTimeout(timer);
      close();
    };
  }, [enabled, supported]);

  return enabled && supported ? state : "offline";
}
