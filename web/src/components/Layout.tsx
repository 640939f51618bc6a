/** The application shell: header (search, theme, user menu), sidebar navigation, content. */
import { Suspense, useEffect, useRef, useState, type FormEvent } from "react";
import { NavLink, Outlet, useLocation, useNavigate, useNavigation, useSearchParams } from "react-router";
import { isAdmin } from "../api/queries";
import type { Me } from "../api/types";
import { useTheme } from "../lib/theme";
import {
  ActivityIcon,
  AdminIcon,
  BellIcon,
  BrandMark,
  CatalogIcon,
  DashboardIcon,
  FeedIcon,
  GovernanceIcon,
  LineageIcon,
  MenuIcon,
  MoonIcon,
  NodesIcon,
  ProfilesIcon,
  SearchIcon,
  SunIcon,
} from "./icons";
import { Button, Spinner } from "./ui";
import { UserMenu } from "./UserMenu";

const DISCOVER = [
  { to: "/catalog", label: "Catalog", Icon: CatalogIcon },
  { to: "/feed", label: "Feed", Icon: FeedIcon },
  { to: "/lineage", label: "Lineage", Icon: LineageIcon },
  { to: "/dashboards", label: "Dashboards", Icon: DashboardIcon },
];
const OPERATE = [
  { to: "/health", label: "Health", Icon: ActivityIcon },
  { to: "/alerts", label: "Alerts", Icon: BellIcon },
  { to: "/nodes", label: "Nodes", Icon: NodesIcon },
  { to: "/profiles", label: "Profiles", Icon: ProfilesIcon },
  { to: "/governance", label: "Governance", Icon: GovernanceIcon },
];

/** The audit log (Governance) answers stewards, admins and platform admins only. */
function mayAudit(me: Me): boolean {
  return me.role === "admin" || me.role === "steward" || me.is_platform_admin;
}

function GlobalSearch() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const location = useLocation();
  const inputRef = useRef<HTMLInputElement>(null);
  const urlQuery = location.pathname === "/catalog" ? (params.get("q") ?? "") : null;
  const [value, setValue] = useState(urlQuery ?? "");
  // Follow the catalog's query when it changes elsewhere (adjusting state during render).
  const [seenQuery, setSeenQuery] = useState(urlQuery);
  if (urlQuery !== seenQuery) {
    setSeenQuery(urlQuery);
    setValue(urlQuery ?? "");
  }

  useEffect(() => {
    // "/" focuses search from anywhere but a text field.
    const onKey = (e: globalThis.KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key !== "/" || e.metaKey || e.ctrlKey || e.altKey) return;
      if (t.closest("input, textarea, select, [contenteditable=true]")) return;
      e.preventDefault();
      inputRef.current?.focus();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const q = value.trim();
    navigate(q ? `/catalog?q=${encodeURIComponent(q)}` : "/catalog");
  };

  return (
    <form className="global-search" role="search" onSubmit={submit}>
      <label htmlFor="global-search" className="sr-only">
        Search datasets
      </label>
      <SearchIcon />
      <input
        ref={inputRef}
        id="global-search"
        type="search"
        placeholder="Search datasets, owners, tags…"
        autoComplete="off"
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <kbd aria-hidden="true">/</kbd>
    </form>
  );
}

function ThemeToggle() {
  const { resolved, toggle } = useTheme();
  const next = resolved === "dark" ? "light" : "dark";
  return (
    <Button variant="ghost" icon onClick={toggle} aria-label={`Switch to ${next} theme`} title={`Switch to ${next} theme`}>
      {resolved === "dark" ? <SunIcon /> : <MoonIcon />}
    </Button>
  );
}

function NavItem({ to, label, Icon }: { to: string; label: string; Icon: typeof CatalogIcon }) {
  return (
    <NavLink to={to} className="nav-link" title={label}>
      <Icon />
      <span className="nav-link__label">{label}</span>
    </NavLink>
  );
}

function RouteProgress() {
  const navigation = useNavigation();
  if (navigation.state === "idle") return null;
  return <div className="route-progress" role="progressbar" aria-label="Loading page" />;
}

export function Layout({ me }: { me: Me }) {
  const [navOpen, setNavOpen] = useState(false);
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);

  // Close the phone navigation drawer after navigating.
  const [seenPath, setSeenPath] = useState(location.pathname);
  if (seenPath !== location.pathname) {
    setSeenPath(location.pathname);
    setNavOpen(false);
  }

  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <RouteProgress />
      <NavLink to="/catalog" className="shell__brand" aria-label="DataMesh home">
        <BrandMark />
        <span className="shell__brand-name">DataMesh</span>
      </NavLink>
      <header className="shell__header">
        <Button
          variant="ghost"
          icon
          className="menu-button"
          aria-label="Open navigation"
          aria-expanded={navOpen}
          aria-controls="sidebar"
          onClick={() => setNavOpen((o) => !o)}
        >
          <MenuIcon />
        </Button>
        <GlobalSearch />
        <div className="header-actions">
          <ThemeToggle />
          <UserMenu me={me} />
        </div>
      </header>
      <nav id="sidebar" className="shell__nav" aria-label="Main" data-open={navOpen}>
        <div className="nav-section">Discover</div>
        {DISCOVER.map((item) => (
          <NavItem key={item.to} {...item} />
        ))}
        <hr className="nav-divider" />
        <div className="nav-section">Operate</div>
        {OPERATE.filter((item) => item.to !== "/governance" || mayAudit(me)).map((item) => (
          <NavItem key={item.to} {...item} />
        ))}
        {isAdmin(me) ? (
          <>
            <hr className="nav-divider" />
            <div className="nav-section">Settings</div>
            <NavItem to="/admin" label="Admin" Icon={AdminIcon} />
          </>
        ) : null}
        <div className="nav-footer">
          Signed in to <strong>{me.org.name}</strong>
        </div>
      </nav>
      <main id="main" className="shell__main" ref={mainRef} tabIndex={-1}>
        <div className="content">
          <Suspense fallback={<Spinner label="Loading page" />}>
            <Outlet />
          </Suspense>
        </div>
      </main>
    </div>
  );
}
