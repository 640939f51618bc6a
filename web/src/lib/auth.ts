/** Signing in and out: the session itself is the API's HttpOnly cookies. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { authApi } from "../api/endpoints";
import { keys } from "../api/queries";
import { useToast } from "../components/toasts";

/** Only same-site paths are allowed as a post-sign-in destination (no open redirect). */
export function safeNext(next: string | null | undefined, fallback = "/catalog"): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return fallback;
  if (next.startsWith("/login") || next.startsWith("/api/")) return fallback;
  return next;
}

export function useSignOut() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  return useMutation({
    mutationFn: authApi.logout,
    onSuccess: (result) => {
      qc.clear();
      qc.setQueryData(keys.me, null);
      if (result?.logout_url) {
        // End the identity provider's session too.
        window.location.assign(result.logout_url);
        return;
      }
      navigate("/login", { replace: true, state: { signedOut: true } });
    },
    onError: (err) => toast.fromError(err, "Could not sign out"),
  });
}
