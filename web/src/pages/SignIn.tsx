/** Sign in: email and password, or one button per configured single sign-on provider. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate, useSearchParams } from "react-router";
import { authApi } from "../api/endpoints";
import { isApiError } from "../api/errors";
import { keys, useMe } from "../api/queries";
import {
  ArrowRightIcon,
  BrandMark,
  CatalogIcon,
  EyeIcon,
  EyeOffIcon,
  LineageIcon,
  LockIcon,
  ProfilesIcon,
} from "../components/icons";
import { Alert, Button, FieldShell, TextField, buttonClass } from "../components/ui";
import { safeNext } from "../lib/auth";

function ssoHref(loginUrl: string, next: string): string {
  if (next === "/catalog") return loginUrl;
  const url = new URL(loginUrl, window.location.origin);
  if (!url.searchParams.has("next")) url.searchParams.set("next", next);
  return url.origin === window.location.origin ? url.pathname + url.search : url.toString();
}

function GraphArt() {
  return (
    <svg className="auth__graph" viewBox="0 0 420 300" fill="none" aria-hidden="true">
      <g stroke="currentColor" strokeWidth="1.5">
        <path d="M40 60 C120 60 120 150 200 150 M40 240 C120 240 120 150 200 150 M200 150 C280 150 280 80 360 80 M200 150 C280 150 280 220 360 220 M360 80 L360 220" />
      </g>
      <g fill="currentColor">
        <rect x="14" y="44" width="52" height="32" rx="8" />
        <rect x="14" y="224" width="52" height="32" rx="8" />
        <circle cx="200" cy="150" r="20" />
        <rect x="334" y="64" width="52" height="32" rx="8" />
        <rect x="334" y="204" width="52" height="32" rx="8" />
      </g>
    </svg>
  );
}

function SignInForm({ next }: { next: string }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [showPassword, setShowPassword] = useState(false);

  const login = useMutation({
    mutationFn: authApi.login,
    onSuccess: async () => {
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== "me" });
      await qc.refetchQueries({ queryKey: keys.me });
      navigate(next, { replace: true });
    },
  });

  const error = login.error;
  const fields = isApiError(error) ? error.fieldErrors : {};
  const hasFieldErrors = Object.keys(fields).length > 0;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate({ email: email.trim(), password });
  };

  return (
    <form className="form" onSubmit={submit} noValidate aria-describedby={error ? "signin-error" : undefined}>
      {error && !hasFieldErrors ? (
        <div id="signin-error">
          <Alert tone="danger" title={isApiError(error) && error.status === 401 ? "Sign-in failed" : undefined}>
            {isApiError(error) ? error.detail || error.title : "Could not sign in. Try again."}
          </Alert>
        </div>
      ) : null}
      <TextField
        label="Email"
        type="email"
        name="email"
        autoComplete="username"
        inputMode="email"
        required
        autoFocus
        placeholder="you@company.com"
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        error={fields.email}
      />
      <FieldShell label="Password" error={fields.password}>
        {({ id, describedBy, invalid }) => (
          <div className="password-field">
            <input
              id={id}
              className="input"
              type={showPassword ? "text" : "password"}
              name="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={invalid || undefined}
              aria-describedby={describedBy}
            />
            <Button
              variant="ghost"
              icon
              size="sm"
              aria-label={showPassword ? "Hide password" : "Show password"}
              aria-pressed={showPassword}
              onClick={() => setShowPassword((s) => !s)}
            >
              {showPassword ? <EyeOffIcon /> : <EyeIcon />}
            </Button>
          </div>
        )}
      </FieldShell>
      <Button type="submit" variant="primary" size="lg" block loading={login.isPending}>
        Sign in
      </Button>
    </form>
  );
}

export function Component() {
  const me = useMe();
  const [params] = useSearchParams();
  const location = useLocation();
  const next = safeNext(params.get("next"));
  const providers = useQuery({ queryKey: keys.providers, queryFn: authApi.providers, staleTime: 5 * 60_000 });
  const ssoError = params.get("error") === "sso";
  const signedOut = (location.state as { signedOut?: boolean } | null)?.signedOut;

  if (me.data) return <Navigate to={next} replace />;

  return (
    <div className="auth">
      <aside className="auth__aside" aria-hidden="true">
        <div className="auth__aside-brand">
          <BrandMark />
          DataMesh
        </div>
        <div className="auth__pitch">
          <h2>Find the data you need. Connect to it in one click.</h2>
          <p>The catalog where data teams publish datasets, follow what changes, and see how data flows.</p>
          <ul className="auth__features">
            <li>
              <CatalogIcon /> Search every dataset your organization can see
            </li>
            <li>
              <ProfilesIcon /> Working connection code for your platform
            </li>
            <li>
              <LineageIcon /> Live lineage and impact analysis
            </li>
          </ul>
        </div>
        <GraphArt />
        <div className="auth__foot">Self-hosted · your data never leaves your network</div>
      </aside>
      <main className="auth__main">
        <div className="auth__card">
          <div className="auth__mobile-brand">
            <BrandMark /> DataMesh
          </div>
          <h1>Sign in</h1>
          <p className="lede">Welcome back. Sign in to your organization's catalog.</p>
          <div className="stack" style={{ gap: "var(--space-4)" }}>
            {ssoError ? (
              <Alert tone="danger" title="Single sign-on failed">
                {params.get("message") || "The identity provider did not complete the sign-in. Try again."}
              </Alert>
            ) : null}
            {signedOut && !ssoError ? <Alert tone="success">You have signed out.</Alert> : null}
            {me.isError ? (
              <Alert tone="warning" title="DataMesh is not answering">
                Signing in may fail until the server is reachable again.
              </Alert>
            ) : null}
            <SignInForm next={next} />
          </div>
          {providers.data && providers.data.length > 0 ? (
            <>
              <div className="auth__divider">or</div>
              <div className="auth__sso">
                {providers.data.map((p) => (
                  <a key={p.name} className={buttonClass({ variant: "secondary", size: "lg", block: true })} href={ssoHref(p.login_url, next)}>
                    <LockIcon />
                    <span>Sign in with {p.title}</span>
                    <ArrowRightIcon style={{ marginLeft: "auto" }} />
                  </a>
                ))}
              </div>
            </>
          ) : null}
        </div>
      </main>
    </div>
  );
}
