/**
 * The one fetch wrapper the UI uses. Sessions live in HttpOnly cookies set by the API, so no
 * token is ever read or stored here. Unsafe methods carry the CSRF header (double-submit: the
 * value of the readable `dm_csrf` cookie). A 401 triggers one cookie-based refresh, then one retry.
 */
import { ApiError, errorFromResponse, networkError } from "./errors";

export const CSRF_COOKIE = "dm_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Endpoints where a 401 means "wrong credentials", not "session expired". */
const NO_REFRESH = ["/api/auth/login", "/api/auth/refresh", "/api/auth/logout"];

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** JSON-serialisable body (sent as application/json). */
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Set false to skip the refresh-and-retry on 401. */
  refresh?: boolean;
}

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return null;
}

export function buildUrl(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, String(v)));
    else params.append(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes("?") ? "&" : "?"}${qs}` : path;
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called when the session is gone for good (refresh failed): the app shows the sign-in page. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** Tell the app the session is over (e.g. the live stream said so and a refresh failed). */
export function notifyUnauthorized(): void {
  unauthorizedListeners.forEach((l) => l());
}

function send(path: string, options: RequestOptions): Promise<Response> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) {
    // Read at send time: a refresh rotates the cookie.
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  Object.assign(headers, options.headers);
  return fetch(buildUrl(path, options.query), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: "same-origin",
    signal: options.signal,
  });
}

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time: concurrent 401s share the same attempt. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const res = await send("/api/auth/refresh", { method: "POST", body: {} });
      return res.ok;
    } catch {
      return false;
    } finally {
      // Let the next expiry trigger a fresh attempt.
      queueMicrotask(() => {
        refreshing = null;
      });
    }
  })();
  return refreshing;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await requestWithEtag<T>(path, options)).data;
}

/** A response body with its ETag (for optimistic concurrency with If-Match). */
export interface WithEtag<T> {
  data: T;
  etag: string | null;
}

export function getWithEtag<T>(path: string, signal?: AbortSignal): Promise<WithEtag<T>> {
  return requestWithEtag<T>(path, { signal });
}

export async function requestWithEtag<T>(path: string, options: RequestOptions = {}): Promise<WithEtag<T>> {
  let res: Response;
  try {
    res = await send(path, options);
    if (
      res.status === 401 &&
      options.refresh !== false &&
      !NO_REFRESH.some((p) => path.startsWith(p))
    ) {
      if (await refreshSession()) res = await send(path, options);
    }
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw networkError(err);
  }
  if (!res.ok) {
    const error = await errorFromResponse(res);
    if (error.status === 401 && !NO_REFRESH.some((p) => path.startsWith(p))) {
      unauthorizedListeners.forEach((l) => l());
    }
    throw error;
  }
  const etag = res.headers.get("etag");
  if (res.status === 204 || res.headers.get("content-length") === "0") {
    return { data: undefined as T, etag };
  }
  const type = res.headers.get("content-type") ?? "";
  const data = (type.includes("json") ? await res.json() : await res.text()) as T;
  return { data, etag };
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>(path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>(path, { method: "POST", body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => request<T>(path, { method: "PATCH", body }),
  put: <T>(path: string, body: unknown) => request<T>(path, { method: "PUT", body }),
  delete: <T = void>(path: string) => request<T>(path, { method: "DELETE" }),
};

export { ApiError };
