/** The current user's menu: who you are, theme, and Sign out. Keyboard: arrows, Home/End, Esc. */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { useNavigate } from "react-router";
import type { Me } from "../api/types";
import { useSignOut } from "../lib/auth";
import { useTheme, type ThemeChoice } from "../lib/theme";
import { Avatar, Badge } from "./ui";
import { ChevronDownIcon, KeyIcon, LogOutIcon, MonitorIcon, MoonIcon, SunIcon } from "./icons";

const THEMES: { value: ThemeChoice; label: string; Icon: typeof SunIcon }[] = [
  { value: "system", label: "System theme", Icon: MonitorIcon },
  { value: "light", label: "Light theme", Icon: SunIcon },
  { value: "dark", label: "Dark theme", Icon: MoonIcon },
];

export function roleLabel(role: string): string {
  return role.charAt(0).toUpperCase() + role.slice(1);
}

export function UserMenu({ me }: { me: Me }) {
  const [open, setOpen] = useState(false);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const menuRef = useRef<HTMLDivElement>(null);
  const menuId = useId();
  const theme = useTheme();
  const signOut = useSignOut();
  const navigate = useNavigate();

  useEffect(() => {
    if (!open) return;
    const first = menuRef.current?.querySelector<HTMLElement>('[role^="menuitem"]');
    first?.focus();
    const onPointer = (e: PointerEvent) => {
      if (!menuRef.current?.contains(e.target as Node) && !buttonRef.current?.contains(e.target as Node)) {
        setOpen(false);
      }
    };
    document.addEventListener("pointerdown", onPointer);
    return () => document.removeEventListener("pointerdown", onPointer);
  }, [open]);

  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) buttonRef.current?.focus();
  };

  const onMenuKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const items = Array.from(menuRef.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? []);
    const index = items.indexOf(document.activeElement as HTMLElement);
    const focus = (i: number) => items[(i + items.length) % items.length]?.focus();
    if (e.key === "ArrowDown") focus(index + 1);
    else if (e.key === "ArrowUp") focus(index - 1);
    else if (e.key === "Home") focus(0);
    else if (e.key === "End") focus(items.length - 1);
    else if (e.key === "Escape") close();
    else if (e.key === "Tab") setOpen(false);
    else return;
    if (e.key !== "Tab") e.preventDefault();
  };

  return (
    <div className="menu-anchor">
      <button
        ref={buttonRef}
        type="button"
        className="user-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        aria-label={`Account menu for ${me.name}`}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        <Avatar name={me.name || me.email || "?"} seed={me.id} size="sm" />
        <span className="user-button__text">
          <span className="user-button__name" data-testid="user-name">
            {me.name}
          </span>
          <span className="user-button__org">{me.org.name}</span>
        </span>
        <ChevronDownIcon />
      </button>
      {open ? (
        <div ref={menuRef} id={menuId} className="menu" role="menu" aria-label="Account" tabIndex={-1} onKeyDown={onMenuKey}>
          <div className="menu__header">
            <Avatar name={me.name || me.email || "?"} seed={me.id} size="lg" />
            <div className="menu__header-text">
              <div className="menu__name">{me.name}</div>
              {me.email ? <div className="menu__email">{me.email}</div> : null}
              <div className="menu__meta">
                <Badge tone="primary">{roleLabel(me.role)}</Badge>
                {me.is_platform_admin ? <Badge tone="warning">Platform admin</Badge> : null}
                <Badge>{me.org.name}</Badge>
              </div>
            </div>
          </div>
          <hr className="menu__sep" />
          <button
            type="button"
            role="menuitem"
            className="menu__item"
            onClick={() => {
              close(false);
              navigate("/admin/api-keys");
            }}
          >
            <KeyIcon /> API keys
          </button>
          <hr className="menu__sep" />
          <div className="menu__label" id={`${menuId}-theme`}>
            Appearance
          </div>
          <div role="group" aria-labelledby={`${menuId}-theme`}>
            {THEMES.map(({ value, label, Icon }) => (
              <button
                key={value}
                type="button"
                role="menuitemradio"
                aria-checked={theme.choice === value}
                className="menu__item"
                onClick={() => theme.setTheme(value)}
              >
                <Icon /> {label}
              </button>
            ))}
          </div>
          <hr className="menu__sep" />
          <button
            type="button"
            role="menuitem"
            className="menu__item menu__item--danger"
            onClick={() => {
              close(false);
              signOut.mutate();
            }}
          >
            <LogOutIcon /> Sign out
          </button>
        </div>
      ) : null}
    </div>
  );
}
