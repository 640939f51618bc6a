import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { onUnauthorized } from "../api/client";
import type { FeedItem } from "../api/types";
import { json, mockFetch } from "../test/helpers";
import { useFeedStream } from "./useFeedStream";

/** A scriptable EventSource: the test opens, sends and fails it. */
class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static all: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(
    public url: string,
    public init?: EventSourceInit,
  ) {
    FakeEventSource.all.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  emit(type: string, data: unknown, id = "") {
    const e = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id });
    this.listeners.get(type)?.forEach((fn) => fn(e));
  }
  fail(closed: boolean) {
    this.readyState = closed ? FakeEventSource.CLOSED : FakeEventSource.CONNECTING;
    this.onerror?.();
  }
}

const item = (id: string, type = "dataset.published"): FeedItem => ({
  id,
  type,
  occurred_at: "2026-03-02T10:00:00Z",
  actor: { id: "u", name: "ada@x", kind: "user" },
  org_id: "o",
  subject: { kind: "dataset", id: "d", name: "Orders" },
  payload: {},
});

const latest = () => FakeEventSource.all[FakeEventSource.all.length - 1]!;

beforeEach(() => {
  FakeEventSource.all = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("useFeedStream", () => {
  it("delivers named events and reports the connection state", () => {
    const onItem = vi.fn();
    const { result } = renderHook(() => useFeedStream({ onItem }));
    expect(result.current).toBe("connecting");
    expect(latest().url).toBe("/api/feed/stream");
    expect(latest().init).toEqual({ withCredentials: true });
    act(() => latest().open());
    expect(result.current).toBe("live");
    act(() => latest().emit("dataset.published", item("e1"), "e1"));
    act(() => latest().emit("node.status_changed", item("e2", "node.status_changed"), "e2"));
    expect(onItem.mock.calls.map((c) => (c[0] as FeedItem).id)).toEqual(["e1", "e2"]);
    act(() => latest().fail(false));
    expect(result.current).toBe("reconnecting");
  });

  it("on resync reloads the list and starts a fresh stream", () => {
    const onResync = vi.fn();
    renderHook(() => useFeedStream({ onItem: vi.fn(), onResync }));
    act(() => {
      latest().open();
      latest().emit("dataset.published", item("e1"), "e1");
      latest().emit("resync", { reason: "too_far_behind" });
    });
    expect(onResync).toHaveBeenCalledOnce();
    act(() => vi.runOnlyPendingTimers());
    expect(FakeEventSource.all).toHaveLength(2);
    expect(latest().url).toBe("/api/feed/stream"); // no last_event_id: it would be too far behind again
  });

  it("when refused, refreshes the session and resumes after the last event", async () => {
    const calls = mockFetch(() => json({ ok: true }));
    renderHook(() => useFeedStream({ onItem: vi.fn() }));
    act(() => {
      latest().open();
      latest().emit("dataset.published", item("e7"), "e7");
    });
    await act(async () => {
      latest().fail(true);
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls.map((c) => c.url)).toEqual(["/api/auth/refresh"]);
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(latest().url).toBe("/api/feed/stream?last_event_id=e7");
  });

  it("leaving the page closes the stream without refreshing the session", async () => {
    const calls = mockFetch(() => json({ ok: true }));
    renderHook(() => useFeedStream({ onItem: vi.fn() }));
    const es = latest();
    act(() => es.open());
    await act(async () => {
      window.dispatchEvent(new Event("pagehide"));
      es.fail(true);
      await vi.runOnlyPendingTimersAsync();
    });
    expect(es.readyState).toBe(FakeEventSource.CLOSED);
    expect(calls).toEqual([]);
    expect(FakeEventSource.all).toHaveLength(1);
  });

  it("stops when a navigation starts, and starts again when the user stays", async () => {
    const calls = mockFetch(() => json({ ok: true }));
    renderHook(() => useFeedStream({ onItem: vi.fn() }));
    const es = latest();
    act(() => es.open());
    act(() => {
      window.dispatchEvent(new Event("beforeunload"));
      es.fail(true);
    });
    expect(calls).toEqual([]);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(3000);
    });
    expect(FakeEventSource.all).toHaveLength(2);
    expect(calls).toEqual([]);
  });

  it("asks to sign in again when the session has ended", async () => {
    mockFetch(() => json({ status: 401, title: "Unauthorized" }, 401));
    const signedOut = vi.fn();
    const off = onUnauthorized(signedOut);
    const { result } = renderHook(() => useFeedStream({ onItem: vi.fn() }));
    await act(async () => {
      latest().open();
      latest().emit("session_ended", {});
      await vi.runOnlyPendingTimersAsync();
    });
    expect(signedOut).toHaveBeenCalled();
    expect(result.current).toBe("offline");
    off();
  });
});
