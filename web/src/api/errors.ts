/** RFC 9457 problem+json errors from the DataMesh API, as one typed error class. */

export interface FieldError {
  /** Where the error is, e.g. `["email"]` or `["settings", "default_visibility"]`. */
  loc: (string | number)[];
  /** The location joined with dots (`settings.default_visibility`): the form field's key. */
  field: string;
  msg: string;
  type: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string | unknown[];
  errors?: unknown[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly errors: FieldError[];
  readonly body: ProblemBody | null;

  constructor(init: {
    status: number;
    title: string;
    detail?: string;
    type?: string;
    errors?: FieldError[];
    body?: ProblemBody | null;
  }) {
    super(init.detail || init.title);
    this.name = "ApiError";
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail ?? "";
    this.type = init.type ?? "about:blank";
    this.errors = init.errors ?? [];
    this.body = init.body ?? null;
  }

  /** Field errors keyed by field path (first message per field). */
  get fieldErrors(): Record<string, string> {
    return fieldErrorMap(this.errors);
  }

  get isNetworkError(): boolean {
    return this.status === 0;
  }
}

export function isApiError(value: unknown): value is ApiError {
  return value instanceof ApiError;
}

const STATUS_TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Authentication required",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  412: "Precondition failed",
  413: "Payload too large",
  422: "Invalid input",
  429: "Too many requests",
  500: "Server error",
  502: "Bad gateway",
  503: "Service unavailable",
  504: "Gateway timeout",
};

function normaliseLoc(raw: unknown): (string | number)[] {
  if (!Array.isArray(raw)) return [];
  const loc = raw.filter((p): p is string | number => typeof p === "string" || typeof p === "number");
  // FastAPI prefixes request-body fields with "body"; the form does not know about it.
  return loc[0] === "body" && loc.length > 1 ? loc.slice(1) : loc;
}

/** Accepts both the DataMesh shape ({loc, field, msg, type}) and FastAPI's ({loc, msg, type}). */
export function parseFieldErrors(raw: unknown): FieldError[] {
  if (!Array.isArray(raw)) return [];
  const out: FieldError[] = [];
  for (const item of raw) {
    if (!item || typeof item !== "object") continue;
    const e = item as Record<string, unknown>;
    const loc = normaliseLoc(e.loc);
    const field = typeof e.field === "string" && e.field ? e.field : loc.map(String).join(".");
    const msg = typeof e.msg === "string" ? e.msg : typeof e.message === "string" ? e.message : "";
    if (!msg) continue;
    out.push({ loc, field, msg, type: typeof e.type === "string" ? e.type : "invalid" });
  }
  return out;
}

export function fieldErrorMap(errors: FieldError[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const e of errors) {
    const key = e.field || "_";
    if (!(key in map)) map[key] = friendlyMessage(e);
  }
  return map;
}

/** Validator messages written for developers (regexes, type names) reworded for people. */
export function friendlyMessage(e: FieldError): string {
  const last = String(e.loc[e.loc.length - 1] ?? e.field);
  if (e.type === "string_pattern_mismatch" || e.type === "value_error") {
    if (/email/i.test(last) && /pattern|email/i.test(e.msg)) return "Enter a valid email address, like name@company.com.";
    if (e.type === "string_pattern_mismatch") return "This value has the wrong format.";
  }
  if (e.type === "missing") return "This field is required.";
  return humaniseMessage(e.msg);
}

/** Pydantic messages start with "Value error, " for custom validators; drop the prefix. */
export function humaniseMessage(msg: string): string {
  const cleaned = msg.replace(/^Value error,\s*/i, "");
  return cleaned.charAt(0).toUpperCase() + cleaned.slice(1);
}

/** Build an ApiError from a failed response (problem+json, plain JSON or anything else). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const contentType = res.headers.get("content-type") ?? "";
  const fallbackTitle = STATUS_TITLES[res.status] ?? (res.statusText || "Request failed");
  let body: ProblemBody | null = null;
  if (contentType.includes("json")) {
    try {
      body = (await res.json()) as ProblemBody;
    } catch {
      body = null;
    }
  }
  if (!body || typeof body !== "object") {
    return new ApiError({
      status: res.status,
      title: fallbackTitle,
      detail:
        res.status >= 500
          ? "The server could not complete the request. Try again in a moment."
          : `The request failed (HTTP ${res.status}).`,
    });
  }
  // FastAPI's default 422 shape puts the field errors in `detail`.
  const rawErrors = Array.isArray(body.errors)
    ? body.errors
    : Array.isArray(body.detail)
      ? body.detail
      : [];
  const errors = parseFieldErrors(rawErrors);
  const detail =
    typeof body.detail === "string"
      ? body.detail
      : errors.length
        ? errors.map((e) => (e.field ? `${e.field}: ${e.msg}` : e.msg)).join("; ")
        : "";
  return new ApiError({
    status: typeof body.status === "number" ? body.status : res.status,
    title: typeof body.title === "string" && body.title ? body.title : fallbackTitle,
    detail,
    type: typeof body.type === "string" ? body.type : undefined,
    errors,
    body,
  });
}

export function networkError(cause: unknown): ApiError {
  const err = new ApiError({
    status: 0,
    title: "Cannot reach DataMesh",
    detail: "The server did not answer. Check your connection and try again.",
  });
  (err as { cause?: unknown }).cause = cause;
  return err;
}

/** A one-line message for toasts and alerts. */
export function describeError(error: unknown): { title: string; detail: string } {
  if (isApiError(error)) return { title: error.title, detail: error.detail };
  if (error instanceof Error) return { title: "Something went wrong", detail: error.message };
  return { title: "Something went wrong", detail: String(error) };
}
