/** Toast notifications for the outcome of actions (announced politely to screen readers). */
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { describeError } from "../api/errors";
import { AlertIcon, CheckCircleIcon, CloseIcon, InfoIcon } from "./icons";

type ToastKind = "success" | "error" | "info";

interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  detail?: string;
}

interface ToastApi {
  success: (title: string, detail?: string) => void;
  info: (title: string, detail?: string) => void;
  error: (title: string, detail?: string) => void;
  /** An error from a failed action, described from its problem+json. */
  fromError: (error: unknown, title?: string) => void;
}

const ToastContext = createContext<ToastApi | null>(null);

const ICONS = { success: CheckCircleIcon, error: AlertIcon, info: InfoIcon };

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => {
    setToasts((all) => all.filter((t) => t.id !== id));
  }, []);

  const push = useCallback(
    (kind: ToastKind, title: string, detail?: string) => {
      const id = nextId.current++;
      setToasts((all) => [...all.slice(-3), { id, kind, title, detail }]);
      window.setTimeout(() => dismiss(id), kind === "error" ? 8000 : 4500);
    },
    [dismiss],
  );

  const api = useMemo<ToastApi>(
    () => ({
      success: (title, detail) => push("success", title, detail),
      info: (title, detail) => push("info", title, detail),
      error: (title, detail) => push("error", title, detail),
      fromError: (error, title) => {
        const d = describeError(error);
        push("error", title ?? d.title, title ? d.detail || d.title : d.detail);
      },
    }),
    [push],
  );

  return (
    <ToastContext.Provider value={api}>
      {children}
      <div className="toasts" aria-live="polite" aria-relevant="additions" role="region" aria-label="Notifications">
        {toasts.map((t) => {
          const Icon = ICONS[t.kind];
          return (
            <div key={t.id} className={`toast toast--${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>
              <Icon />
              <div className="toast__body">
                <div className="toast__title">{t.title}</div>
                {t.detail ? <div className="toast__detail">{t.detail}</div> : null}
              </div>
              <button
                type="button"
                className="btn btn--ghost btn--icon btn--sm"
                aria-label="Dismiss notification"
                onClick={() => dismiss(t.id)}
              >
                <CloseIcon />
              </button>
            </div>
          );
        })}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  const ctx = useContext(ToastContext);
  if (!ctx) throw new Error("useToast needs a <ToastProvider>");
  return ctx;
}
