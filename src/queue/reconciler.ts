// The reconciler: Postgres is the record, Redis may lose things (refused enqueue after a commit,
// a Redis restart without persistence, a queue entry failed while Postgres was away). Every tick
// it looks at unfinished jobs and makes the queue agree with the database. A job is never
// silently dropped.
//
// Render jobs are queued once admitted (fair scheduling, admission.ts): the queue must hold every
// admitted, unfinished job, and every organisation with jobs waiting and a slot free gets an
// admission pass (longest-waiting organisation first), in case the pass that should have run
// (after an accept, after a job ended) did not.
import type { Logger } from "pino";
import type { Prisma } from "../db/client.js";
import { findJobsOwingDelivery } from "../jobs/job-repository.js";
import { findAdmittedUnfinished, findOrgsToAdmit } from "./admission.js";
import type { DeliverQueue } from "./deliver-queue.js";
import type { RenderQueue } from "./render-queue.js";
import { startPeriodic, type Periodic } from "../periodic.js";

export interface ReconcilerDeps {
  prisma: Prisma;
  renderQueue: RenderQueue;
  deliverQueue: DeliverQueue;
  logger: Logger;
  /** Ends a job whose queue entry failed for good but whose database row was not updated. */
  failJob: (jobId: string, error: string) => Promise<unknown>;
}

export interface ReconcileResult {
  enqueued: number;
  failed: number;
}

/** One pass. Jobs younger than `graceMs` are left alone: their accept may still be enqueueing. */
export async function reconcileOnce(deps: ReconcilerDeps, graceMs = 5_000, batch = 500): Promise<ReconcileResult> {
  const result: ReconcileResult = { enqueued: 0, failed: 0 };
  // Group jobs are never queued: they follow their items. Jobs waiting for admission are not
  // queued either: admitRound below admits them when their organisation has a free slot.
  const stuck = await findAdmittedUnfinished(deps.prisma, new Date(Date.now() - graceMs), batch);
  for (const { id, priority } of stuck) {
    const entry = await deps.renderQueue.queue.getJob(id);
    const state = entry ? await entry.getState() : "missing";
    if (state === "missing" || state === "unknown") {
      await deps.renderQueue.add(id, priority);
      result.enqueued++;
    } else if (state === "failed") {
      await deps.failJob(id, entry?.failedReason || "render failed");
      result.failed++;
    } else if (state === "completed") {
      // The worker finished but could not record it (database away): render again.
      await entry!.remove();
      await deps.renderQueue.add(id, priority);
      result.enqueued++;
    }
  }
  result.enqueued += await admitRound(deps, batch);
  result.enqueued += await reconcileDeliveries(deps, graceMs, batch);
  if (result.enqueued || result.failed) deps.logger.info(result, "reconciler repaired jobs");
  return result;
}

/**
 * An admission pass for every organisation with jobs waiting and a slot free (longest-waiting
 * first): a job failed above, or a pass that should have run did not.
 */
async function admitRound(deps: ReconcilerDeps, batch: number): Promise<number> {
  let admitted = 0;
  for (const orgId of await findOrgsToAdmit(deps.prisma, deps.renderQueue.orgSlots, batch))
    admitted += await deps.renderQueue.admit(orgId);
  return admitted;
}

/** Final jobs whose send_to or webhook is still owed but that no deliver queue holds. */
async function reconcileDeliveries(deps: ReconcilerDeps, graceMs: number, batch: number): Promise<number> {
  const owed = await findJobsOwingDelivery(deps.prisma, new Date(Date.now() - graceMs), batch);
  let enqueued = 0;
  for (const job of owed) {
    const sendToOwed =
      job.status === "complete" && (job.sendToStatus === "pending" || job.sendToStatus === "delivering");
    const queued = await deps.deliverQueue.queue.getJob(sendToOwed ? `send_to-${job.id}` : `webhook-${job.id}-0`);
    if (queued) continue; // there, or kept after it ran (its outcome is recorded on the job)
    await (sendToOwed ? deps.deliverQueue.enqueueSendTo(job.id) : deps.deliverQueue.enqueueWebhook(job.id));
    enqueued++;
  }
  return enqueued;
}

export function startReconciler(deps: ReconcilerDeps, intervalMs: number): Periodic {
  return startPeriodic(() => reconcileOnce(deps), intervalMs, {
    logger: deps.logger,
    message: "reconciler pass failed; will retry",
  });
}
