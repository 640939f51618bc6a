/** Small presentational building blocks shared by every screen. */
import {
  type ButtonHTMLAttributes,
  type InputHTMLAttributes,
  type KeyboardEvent,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
  forwardRef,
  useEffect,
  useId,
  useState,
} from "react";
import { describeError, isApiError } from "../api/errors";
import {
  AlertIcon,
  CheckCircleIcon,
  CheckIcon,
  CopyIcon,
  InfoIcon,
  RefreshIcon,
  SearchIcon,
  WarningIcon,
} from "./icons";

/* Buttons ---------------------------------------------------------------------------------- */

type Variant = "primary" | "secondary" | "ghost" | "danger" | "danger-ghost";

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  size?: "sm" | "md" | "lg";
  block?: boolean;
  icon?: boolean;
  loading?: boolean;
}

export function buttonClass({
  variant = "secondary",
  size = "md",
  block,
  icon,
}: Pick<ButtonProps, "variant" | "size" | "block" | "icon"> = {}): string {
  return [
    "btn",
    `btn--${variant}`,
    size !== "md" && `btn--${size}`,
    block && "btn--block",
    icon && "btn--icon",
  ]
    .filter(Boolean)
    .join(" ");
}

export const Button = forwardRef<HTMLButtonElement, ButtonProps>(function Button(
  { variant, size, block, icon, loading, disabled, className, children, type = "button", ...rest },
  ref,
) {
  return (
    <button
      ref={ref}
      type={type}
      className={[buttonClass({ variant, size, block, icon }), className].filter(Boolean).join(" ")}
      disabled={disabled || loading}
      aria-busy={loading || undefined}
      data-loading={loading || undefined}
      {...rest}
    >
      {loading ? <span className="spinner" aria-hidden="true" /> : null}
      {typeof children === "string" ? <span>{children}</span> : children}
    </button>
  );
});

/* Badges ----------------------------------------------------------------------------------- */

export type Tone = "neutral" | "primary" | "success" | "warning" | "danger" | "info";

export function Badge({
  tone = "neutral",
  icon,
  children,
  title,
}: {
  tone?: Tone;
  icon?: ReactNode;
  children: ReactNode;
  title?: string;
}) {
  return (
    <span className={`badge badge--${tone}`} title={title}>
      {icon}
      {children}
    </span>
  );
}

/* Alerts ----------------------------------------------------------------------------------- */

const ALERT_ICONS = {
  danger: AlertIcon,
  warning: WarningIcon,
  success: CheckCircleIcon,
  info: InfoIcon,
};

export function Alert({
  tone = "info",
  title,
  children,
  actions,
}: {
  tone?: keyof typeof ALERT_ICONS;
  title?: ReactNode;
  children?: ReactNode;
  actions?: ReactNode;
}) {
  const Icon = ALERT_ICONS[tone];
  return (
    <div className={`alert alert--${tone}`} role={tone === "danger" ? "alert" : "status"}>
      <Icon />
      <div className="alert__body">
        {title ? <div className="alert__title">{title}</div> : null}
        {children ? <div className="alert__detail">{children}</div> : null}
        {actions ? <div className="alert__actions">{actions}</div> : null}
      </div>
    </div>
  );
}

/** An error from the API, with its field messages and an optional retry button. */
export function ErrorAlert({
  error,
  onRetry,
  retrying,
  showFieldErrors = false,
}: {
  error: unknown;
  onRetry?: () => void;
  retrying?: boolean;
  showFieldErrors?: boolean;
}) {
  const { title, detail } = describeError(error);
  const fieldErrors = showFieldErrors && isApiError(error) ? error.errors : [];
  return (
    <Alert
      tone="danger"
      title={title}
      actions={
        onRetry ? (
          <Button size="sm" onClick={onRetry} loading={retrying}>
            <RefreshIcon /> Try again
          </Button>
        ) : undefined
      }
    >
      {fieldErrors.length ? (
        <ul className="alert__list">
          {fieldErrors.map((e, i) => (
            <li key={i}>{e.field ? `${e.field}: ${e.msg}` : e.msg}</li>
          ))}
        </ul>
      ) : (
        detail || null
      )}
    </Alert>
  );
}

/* Loading --------------------------------------------------------------------------------- */

export function Skeleton({ width = "100%", height = 12 }: { width?: string | number; height?: number }) {
  return <span className="skeleton" style={{ width, height }} aria-hidden="true" />;
}

export function TableSkeleton({ rows = 5, columns = 4, label = "Loading" }: { rows?: number; columns?: number; label?: string }) {
  return (
    <div role="status" aria-live="polite" aria-busy="true">
      <span className="sr-only">{label}…</span>
      <table className="table" aria-hidden="true">
        <tbody>
          {Array.from({ length: rows }, (_row, r) => (
            <tr key={r}>
              {Array.from({ length: columns }, (_cell, c) => (
                <td key={c}>
                  {c === 0 ? (
                    <div className="identity">
                      <span className="skeleton" style={{ width: 32, height: 32, borderRadius: "50%" }} />
                      <div style={{ display: "grid", gap: 6, flex: 1 }}>
                        <Skeleton width={`${60 + ((r * 17) % 30)}%`} />
                        <Skeleton width="40%" height={10} />
                      </div>
                    </div>
                  ) : (
                    <Skeleton width={`${40 + ((r + c) * 13) % 45}%`} />
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** What `QueryList` reads of a list query. */
interface ListQuery {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  isFetching: boolean;
  refetch: () => unknown;
}

/**
 * The body of a card that lists what a query returns: `loading` while it loads, the error with a
 * retry, `empty` when there is nothing, else the list (`children`).
 */
export function QueryList({
  query,
  loading,
  isEmpty,
  empty,
  children,
}: {
  query: ListQuery;
  loading: ReactNode;
  isEmpty: boolean;
  empty: ReactNode;
  children: ReactNode;
}) {
  if (query.isPending) return loading;
  if (query.isError) {
    return (
      <div className="card__body">
        <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />
      </div>
    );
  }
  return isEmpty ? empty : children;
}

/** "Load more" under a paged list, while it has a next page. */
export function LoadMore({
  query,
  className = "load-more",
}: {
  query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown };
  className?: string;
}) {
  if (!query.hasNextPage) return null;
  return (
    <div className={className}>
      <Button onClick={() => query.fetchNextPage()} loading={query.isFetchingNextPage}>
        Load more
      </Button>
    </div>
  );
}

/* Empty ------------------------------------------------------------------------------------ */

export function EmptyState({
  icon,
  title,
  children,
  actions,
}: {
  icon?: ReactNode;
  title: ReactNode;
  children?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className="empty">
      {icon ? <div className="empty__icon">{icon}</div> : null}
      <div className="empty__title">{title}</div>
      {children ? <div className="empty__text">{children}</div> : null}
      {actions ? <div className="empty__actions">{actions}</div> : null}
    </div>
  );
}

/* Page header ------------------------------------------------------------------------------ */

export function PageHeader({
  eyebrow,
  title,
  description,
  actions,
}: {
  eyebrow?: ReactNode;
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        {eyebrow ? <span className="eyebrow">{eyebrow}</span> : null}
        <h1>{title}</h1>
        {description ? <p>{description}</p> : null}
      </div>
      {actions ? <div className="page-header__actions">{actions}</div> : null}
    </header>
  );
}

/* Form fields ------------------------------------------------------------------------------ */

/**
 * A search input with its icon and a label for screen readers; `children` follow the input.
 * `className` is the wrapper's (it draws the icon inside the field).
 */
export function SearchBox({
  label,
  placeholder,
  value,
  onChange,
  className = "catalog__search",
  children,
}: {
  label: string;
  placeholder: string;
  value: string;
  onChange: (value: string) => void;
  className?: string;
  children?: ReactNode;
}) {
  const id = useId();
  return (
    <div className={className}>
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <SearchIcon />
      <input
        id={id}
        type="search"
        className="input"
        placeholder={placeholder}
        autoComplete="off"
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
      {children}
    </div>
  );
}

interface FieldShellProps {
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  optional?: boolean;
  wide?: boolean;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
}

export function FieldShell({ label, hint, error, optional, wide, children }: FieldShellProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={wide ? "field field--wide" : "field"}>
      <label className="field__label" htmlFor={id}>
        {label}
        {optional ? <span className="field__optional">(optional)</span> : null}
      </label>
      {children({ id, describedBy, invalid: !!error })}
      {error ? (
        <div className="field__error" id={errorId}>
          <AlertIcon />
          <span>{error}</span>
        </div>
      ) : null}
      {hint ? (
        <div className="field__hint" id={hintId}>
          {hint}
        </div>
      ) : null}
    </div>
  );
}

type CommonFieldProps = {
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  optional?: boolean;
  wide?: boolean;
};

export const TextField = forwardRef<
  HTMLInputElement,
  CommonFieldProps & InputHTMLAttributes<HTMLInputElement> & { mono?: boolean }
>(function TextField({ label, hint, error, optional, wide, mono, className, ...rest }, ref) {
  return (
    <FieldShell label={label} hint={hint} error={error} optional={optional} wide={wide}>
      {({ id, describedBy, invalid }) => (
        <input
          ref={ref}
          id={id}
          className={["input", mono && "input--mono", className].filter(Boolean).join(" ")}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          {...rest}
        />
      )}
    </FieldShell>
  );
});

export function SelectField({
  label,
  hint,
  error,
  optional,
  wide,
  children,
  ...rest
}: CommonFieldProps & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <FieldShell label={label} hint={hint} error={error} optional={optional} wide={wide}>
      {({ id, describedBy, invalid }) => (
        <select
          id={id}
          className="select"
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          {...rest}
        >
          {children}
        </select>
      )}
    </FieldShell>
  );
}

export function TextAreaField({
  label,
  hint,
  error,
  optional,
  wide,
  ...rest
}: CommonFieldProps & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return (
    <FieldShell label={label} hint={hint} error={error} optional={optional} wide={wide}>
      {({ id, describedBy, invalid }) => (
        <textarea
          id={id}
          className="textarea"
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          {...rest}
        />
      )}
    </FieldShell>
  );
}

export function Checkbox({
  label,
  description,
  error,
  ...rest
}: { label: ReactNode; description?: ReactNode; error?: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field">
      <label className="checkbox" htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          {...rest}
        />
        <span className="checkbox__text">
          <span className="checkbox__label">{label}</span>
          {description ? <span className="field__hint">{description}</span> : null}
        </span>
      </label>
      {error ? (
        <div className="field__error" id={`${id}-error`}>
          <AlertIcon />
          <span>{error}</span>
        </div>
      ) : null}
    </div>
  );
}

/* Avatar ----------------------------------------------------------------------------------- */

const AVATAR_COLOURS = ["#4f46e5", "#0891b2", "#059669", "#d97706", "#db2777", "#7c3aed", "#2563eb", "#0d9488"];

export function initials(name: string | null | undefined, fallback = "?"): string {
  const words = (name ?? "").replace(/[@.].*$/, "").split(/[\s._-]+/).filter(Boolean);
  if (!words.length) return fallback;
  const first = words[0]?.[0] ?? "";
  const last = words.length > 1 ? (words[words.length - 1]?.[0] ?? "") : (words[0]?.[1] ?? "");
  return (first + last).toUpperCase();
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}

export function Avatar({
  name,
  seed,
  size,
  square,
}: {
  name: string;
  seed?: string;
  size?: "sm" | "lg";
  square?: boolean;
}) {
  const colour = AVATAR_COLOURS[hash(seed ?? name) % AVATAR_COLOURS.length];
  return (
    <span
      className={["avatar", size && `avatar--${size}`, square && "avatar--square"].filter(Boolean).join(" ")}
      style={{ ["--avatar-bg" as string]: colour }}
      aria-hidden="true"
    >
      {initials(name)}
    </span>
  );
}

/* Copy ------------------------------------------------------------------------------------- */

export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP deployments (no secure context): fall back to a hidden textarea.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    document.execCommand("copy");
  } finally {
    area.remove();
  }
}

export function CopyButton({
  text,
  label = "Copy",
  onCopied,
  variant = "secondary",
}: {
  text: string;
  label?: string;
  onCopied?: () => void;
  variant?: Variant;
}) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const t = window.setTimeout(() => setCopied(false), 2000);
    return () => window.clearTimeout(t);
  }, [copied]);
  return (
    <Button
      variant={variant}
      onClick={async () => {
        await copyText(text);
        setCopied(true);
        onCopied?.();
      }}
    >
      {copied ? <CheckIcon /> : <CopyIcon />}
      <span aria-live="polite">{copied ? "Copied" : label}</span>
    </Button>
  );
}

/* Time ------------------------------------------------------------------------------------- */

const rtf = typeof Intl !== "undefined" ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null;
const dtf =
  typeof Intl !== "undefined"
    ? new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" })
    : null;

export function relativeTime(iso: string, now: number = Date.now()): string {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  if (!rtf) return new Date(iso).toISOString();
  if (abs < 45) return "just now";
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  if (abs < 86400 * 30) return rtf.format(Math.round(seconds / 86400), "day");
  return dtf ? dtf.format(new Date(iso)) : iso;
}

export function Time({ iso, fallback = "—" }: { iso: string | null | undefined; fallback?: string }) {
  if (!iso) return <span className="subtle">{fallback}</span>;
  return (
    <time dateTime={iso} title={dtf ? dtf.format(new Date(iso)) : iso}>
      {relativeTime(iso)}
    </time>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span role="status" className="row muted">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </span>
  );
}

/* Tabs (ARIA tab pattern: arrow keys move between tabs, one tab stop) -------------------------- */

export interface TabSpec<T extends string> {
  id: T;
  label: ReactNode;
  icon?: ReactNode;
}

export function tabIds(prefix: string, id: string) {
  return { tab: `${prefix}-tab-${id}`, panel: `${prefix}-panel-${id}` };
}

export function Tabs<T extends string>({
  label,
  tabs,
  value,
  onChange,
  idPrefix,
}: {
  label: string;
  tabs: TabSpec<T>[];
  value: T;
  onChange: (id: T) => void;
  idPrefix: string;
}) {
  const move = (e: KeyboardEvent<HTMLButtonElement>) => {
    const index = tabs.findIndex((t) => t.id === value);
    let next = index;
    if (e.key === "ArrowRight") next = (index + 1) % tabs.length;
    else if (e.key === "ArrowLeft") next = (index - 1 + tabs.length) % tabs.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = tabs.length - 1;
    else return;
    e.preventDefault();
    const target = tabs[next];
    if (!target) return;
    onChange(target.id);
    document.getElementById(tabIds(idPrefix, target.id).tab)?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((t) => {
        const ids = tabIds(idPrefix, t.id);
        const selected = t.id === value;
        return (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={ids.tab}
            className="tab"
            aria-selected={selected}
            aria-controls={ids.panel}
            tabIndex={selected ? 0 : -1}
            onClick={() => onChange(t.id)}
            onKeyDown={move}
          >
            {t.icon}
            {t.label}
          </button>
        );
      })}
    </div>
  );
}

export function TabPanel({ idPrefix, id, children }: { idPrefix: string; id: string; children: ReactNode }) {
  const ids = tabIds(idPrefix, id);
  return (
    <div role="tabpanel" id={ids.panel} aria-labelledby={ids.tab} className="tab-panel">
      {children}
    </div>
  );
}
