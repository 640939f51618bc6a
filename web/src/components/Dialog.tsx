/** A modal dialog on the native <dialog> element: focus trap, Escape and top layer for free. */
import { useEffect, useId, useRef, type ReactNode } from "react";
import { Button } from "./ui";
import { CloseIcon } from "./icons";

export function Dialog({
  open,
  onClose,
  title,
  description,
  size,
  children,
}: {
  open: boolean;
  onClose: () => void;
  title: ReactNode;
  description?: ReactNode;
  size?: "sm" | "lg";
  children: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descId = useId();

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (open && !el.open) {
      const opener = document.activeElement as HTMLElement | null;
      if (typeof el.showModal === "function") el.showModal();
      else el.setAttribute("open", "");
      return () => {
        // Give focus back to what opened the dialog.
        if (el.open && typeof el.close === "function") el.close();
        opener?.focus?.();
      };
    }
    if (!open && el.open) el.close();
  }, [open]);

  return (
    // The click handler only closes on backdrop clicks; Escape is handled by onCancel.
    // oxlint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-noninteractive-element-interactions
    <dialog
      ref={ref}
      className={size ? `dialog dialog--${size}` : "dialog"}
      aria-labelledby={titleId}
      aria-describedby={description ? descId : undefined}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself, outside its content) closes it.
        if (e.target === ref.current) onClose();
      }}
    >
      {open ? (
        <>
          <div className="dialog__header">
            <div>
              <h2 className="dialog__title" id={titleId}>
                {title}
              </h2>
              {description ? (
                <p className="dialog__description" id={descId}>
                  {description}
                </p>
              ) : null}
            </div>
            <Button variant="ghost" icon size="sm" aria-label="Close dialog" onClick={onClose}>
              <CloseIcon />
            </Button>
          </div>
          <div className="dialog__body">{children}</div>
        </>
      ) : null}
    </dialog>
  );
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  pending,
  danger = true,
}: {
  open: boolean;
  title: ReactNode;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  pending?: boolean;
  danger?: boolean;
}) {
  return (
    <Dialog open={open} onClose={onClose} title={title} size="sm">
      <div className="stack" style={{ gap: "var(--space-5)" }}>
        <div className="muted">{children}</div>
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant={danger ? "danger" : "primary"} onClick={onConfirm} loading={pending}>
            {confirmLabel}
          </Button>
        </div>
      </div>
    </Dialog>
  );
}
