/** Query keys and hooks shared by screens (TanStack Query holds all server state). */
import { QueryClient, useQuery } from "@tanstack/react-query";
import { isApiError } from "./errors";
import { authApi } from "./endpoints";
import type { Me } from "./types";

export const keys = {
  me: ["me"] as const,
  providers: ["auth", "providers"] as const,
  orgs: ["orgs"] as const,
  users: (orgId?: string | null) => ["users", orgId ?? "all"] as const,
  usersAll: ["users"] as const,
  apiKeys: ["api-keys"] as const,
};

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 30_000,
        refetchOnWindowFocus: false,
        // Client errors will not fix themselves: retry only network and server failures.
        retry: (count, error) =>
          count < 2 && (!isApiError(error) || error.status === 0 || error.status >= 500),
      },
      mutations: { retry: false },
    },
  });
}

/** The signed-in principal, or null when signed out. */
export function useMe() {
  return useQuery<Me | null>({
    queryKey: keys.me,
    queryFn: async ({ signal }) => {
      try {
        return await authApi.me(signal);
      } catch (err) {
        if (isApiError(err) && err.status === 401) return null;
        throw err;
      }
    },
    staleTime: 5 * 60_000,
  });
}

export function isAdmin(me: Me | null | undefined): boolean {
  return !!me && (me.role === "admin" || me.is_platform_admin);
}

/** Admins and stewards may crawl a node. */
export function canCrawl(me: Me | null | undefined): boolean {
  return isAdmin(me) || me?.role === "steward";
}
