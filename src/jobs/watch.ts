// Watching a job: its current state at once, then every change, ending after the final state.
// Subscriptions, sync mode and (later) group aggregation all use this; it listens on the event
// bus and never polls the database. It starts listening BEFORE it reads the job's state, so a
// change that lands in between is never missed; events older than what was already sent are
// dropped, so nothing arrives twice or out of order.
import { Repeater } from "@repeaterjs/repeater";
import type { EventBus } from "../events/bus.js";
import type { Prisma } from "../db/client.js";
import type { OutputLinks } from "../storage/output-links.js";
import { getJob, viewOf } from "./service.js";
import { isSettled, progressRank, type JobView } from "./view.js";

type WatchDeps = { prisma: Prisma; events: EventBus; outputLinks: OutputLinks };

export function watchJob(deps: WatchDeps, orgId: string, jobId: string): Repeater<JobView> {
  return new Repeater<JobView>(async (push, stop) => {
    let sent = -1;
    const send = (view: JobView) => {
      const rank = progressRank(view);
      if (rank <= sent) return;
      sent = rank;
      void push(view);
      if (isSettled(view)) stop();
    };
    const unsubscribe = await deps.events.subscribeJob(jobId, (event) => {
      if (event.org_id === orgId) send(event.job);
    });
    try {
      send(await viewOf(deps, await getJob(deps, orgId, jobId)));
    } catch (e) {
      stop(e);
    }
    await stop;
    await unsubscribe();
  });
}

/** Every job event of the organisation, until the consumer stops. */
export function watchOrganization(deps: WatchDeps, orgId: string): Repeater<JobView> {
  return new Repeater<JobView>(async (push, stop) => {
    const unsubscribe = await deps.events.subscribeOrg(orgId, (event) => void push(event.job));
    await stop;
    await unsubscribe();
  });
}

/** What a wait ended with: the settled view, or the last one seen when time ran out (null if none). */
export type WaitOutcome = { settled: true; view: JobView } | { settled: false; view: JobView | null };

/**
 * Sync mode: waits on the event bus until the job is final, at most `timeoutMs` or until
 * `signal` aborts (the client went away). Resolves the final view, or on timeout/abort the last
 * view seen (so a 202 can say "processing" when it is); the job itself goes on either way.
 */
export async function waitForFinal(
  deps: WatchDeps,
  orgId: string,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<WaitOutcome> {
  const iterator = watchJob(deps, orgId, jobId)[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
    signal?.addEventListener("abort", () => resolve(null), { once: true });
  });
  let latest: JobView | null = null;
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), gaveUp]);
      if (next === null || next.done) return { settled: false, view: latest };
      if (isSettled(next.value)) return { settled: true, view: next.value };
      latest = next.value;
    }
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
}
