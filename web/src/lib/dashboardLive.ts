/**
 * Live health for a set of datasets/processes: one status query (batched by the API's limit),
 * read again when the live stream reports a run failure or an SLA breach/recovery, and once a
 * minute as a safety net (a completed run has no event of its own).
 */
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { monitoringApi, monitoringKeys } from "../api/monitoring";
import { isHealthEvent, type StatusMap } from "./dashboardHealth";
import { useFeedStream, type StreamState } from "./useFeedStream";

const EMPTY: StatusMap = {};

export function useHealthRefresh(enabled = true): StreamState {
  const qc = useQueryClient();
  return useFeedStream({
    enabled,
    onItem: (item) => {
      if (isHealthEvent(item.type)) void qc.invalidateQueries({ queryKey: monitoringKeys.all });
    },
    onResync: () => void qc.invalidateQueries({ queryKey: monitoringKeys.all }),
  });
}

export function useLiveStatus(refs: string[]): { statuses: StatusMap; stream: StreamState; error: unknown } {
  const stream = useHealthRefresh(refs.length > 0);
  const q = useQuery({
    queryKey: monitoringKeys.status(refs),
    queryFn: ({ signal }) => monitoringApi.status(refs, signal),
    enabled: refs.length > 0,
    placeholderData: keepPreviousData,
    refetchInterval: 60_000,
    staleTime: 5_000,
  });
  return { statuses: q.data ?? EMPTY, stream, error: q.error };
}
