// Following one job over the `jobStatus` subscription (graphql-ws): its current state at once,
// then every change, until it is final. Statuses only move forward.
import type { Client } from "graphql-ws";
import { useCallback, useEffect, useRef, useState } from "react";
import { subscribe } from "../api.js";
import { JOB_STATUS } from "../queries.js";
import { STATUS_RANK, type Job, type JobStatus } from "../types.js";

export interface LiveJob {
  job: Job | null;
  /** Each status as it arrived, with the milliseconds since `watch` was called. */
  timeline: { status: JobStatus; atMs: number }[];
  problem: string | null;
}

export function useLiveJob(client: Client): [LiveJob, (job: Job, startedAt: number) => void, () => void] {
  const [state, setState] = useState<LiveJob>({ job: null, timeline: [], problem: null });
  const stop = useRef<(() => void) | null>(null);

  const reset = useCallback(() => {
    stop.current?.();
    stop.current = null;
    setState({ job: null, timeline: [], problem: null });
  }, []);

  const watch = useCallback(
    (first: Job, startedAt: number) => {
      stop.current?.();
      const apply = (job: Job) =>
        setState((s) => {
          const last = s.timeline.at(-1);
          if (s.job && s.job.id === job.id && STATUS_RANK[job.status] < STATUS_RANK[s.job.status]) return s;
          const timeline =
            last && (last.status === job.status || STATUS_RANK[job.status] <= STATUS_RANK[last.status])
              ? s.timeline
              : [...s.timeline, { status: job.status, atMs: Math.round(performance.now() - startedAt) }];
          return { ...s, job: { ...s.job, ...job }, timeline };
        });
      setState({ job: null, timeline: [], problem: null });
      apply(first);
      stop.current = subscribe<{ jobStatus: Job }>(
        client,
        JOB_STATUS,
        { id: first.id },
        {
          next: ({ jobStatus }) => apply(jobStatus),
          error: (message) => setState((s) => ({ ...s, problem: `Live status lost: ${message}` })),
          complete: () => undefined,
        },
      );
    },
    [client],
  );

  useEffect(() => () => stop.current?.(), []);
  return [state, watch, reset];
}
