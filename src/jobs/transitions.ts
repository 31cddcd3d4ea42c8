// The status transitions the render worker drives, each written to Postgres first and then
// announced. Each change of a render's status is ONE statement that returns the row as it now is,
// so the announcement needs no second read: processing, complete, failed with its refund folded
// in. A group job follows its items: processing when the first starts (a second statement, for
// items only), and final — in the same transaction as its last item — complete when all are
// complete, failed when any failed; an item of a group therefore ends in a short transaction
// that also settles the group.
import { isDatabaseUnavailable } from "../db/availability.js";
import { queueDeliveries } from "../delivery/accept.js";
import type { Tx } from "../db/client.js";
import { sqlOver, type SqlQuery } from "../db/sql.js";
import type { Job } from "../generated/prisma/client.js";
import {
  claimJobForProcessing,
  completeStandaloneJobStatement,
  completeUnfinishedJob,
  failUnfinishedJob,
  findGroupItemStatuses,
  lockJob,
  settleUnfinishedGroupJob,
  startGroupJob,
  type FinalScope,
} from "./job-repository.js";
import { announce, type JobsDeps } from "./service.js";

/**
 * pending|processing -> processing. Returns null when the job is already final (a duplicate or
 * late delivery from the queue) or is a group job (never rendered itself): the caller must then
 * do nothing.
 */
export async function markProcessing(deps: JobsDeps, jobId: string): Promise<Job | null> {
  const job = await claimJobForProcessing(deps.sql, jobId);
  if (!job) return null;
  if (job.attempts === 1) await announce(deps, job); // retries stay "processing": nothing new to say
  const group = job.parentId ? await startGroupJob(deps.prisma, job.parentId) : null;
  if (group) await announce(deps, group);
  return job;
}

export async function markComplete(
  deps: JobsDeps,
  jobId: string,
  result: { outputKey: string; renderMs: number },
): Promise<Job | null> {
  return finish(deps, (sql, scope) => completeUnfinishedJob(sql, jobId, result, scope));
}

/** Ends the job as failed and refunds its charge, both at most once, in one statement. */
export async function markFailed(deps: JobsDeps, jobId: string, error: string): Promise<Job | null> {
  return finish(deps, (sql, scope) => failUnfinishedJob(sql, jobId, error.slice(0, 2000), scope));
}

/**
 * Runs a final transition: first as one statement on a job outside any group (the common case);
 * when that changed nothing — an item of a group, or a job already final or missing — again in a
 * transaction that, for an item, settles its group too.
 */
async function finish(
  deps: JobsDeps,
  transition: (sql: SqlQuery, scope: FinalScope) => Promise<Job | null>,
): Promise<Job | null> {
  const standalone = await transition(deps.sql, "standalone");
  const changed = standalone
    ? { job: standalone, group: null }
    : await deps.prisma.$transaction(async (tx) => {
        const job = await transition(sqlOver(tx), "any");
        if (!job) return null;
        return { job, group: job.parentId ? await settleGroup(tx, job.parentId) : null };
      });
  if (!changed) return null;
  await announceFinal(deps, changed.job, changed.group);
  return changed.job;
}

/** After the commit that made the job (and its group) final: the events, then what it still owes. */
async function announceFinal(deps: JobsDeps, job: Job, group: Job | null): Promise<void> {
  await announce(deps, job);
  await queueDeliveries(deps, job);
  if (group) {
    await announce(deps, group);
    await queueDeliveries(deps, group);
  }
}

/**
 * markComplete for a render job, and the admission pass its freed slot calls for (see
 * src/queue/admission.ts). A job outside a group completes inside the pass's transaction: one round
 * trip for both. `queued`: the pass, as RenderQueue.admit resolves it (the jobs it admitted are on
 * the queue); a failure there is the reconciler's to repair, the completion stands.
 */
export async function completeAndAdmit(
  deps: JobsDeps,
  job: Pick<Job, "id" | "orgId" | "parentId">,
  result: { outputKey: string; renderMs: number },
): Promise<{ job: Job | null; queued: Promise<number> }> {
  if (job.parentId === null) {
    const pass = deps.renderQueue.admitAfter<Job>(job.orgId, completeStandaloneJobStatement(job.id, result));
    try {
      const [done] = await pass.rows;
      if (done) await announceFinal(deps, done, null);
      return { job: done ?? null, queued: pass.queued }; // nothing changed: already final
    } catch (err) {
      if (isDatabaseUnavailable(err)) throw err;
      // The pass failed (and the completion with it): complete on its own, then a pass of its own.
      deps.logger.warn({ err, jobId: job.id }, "admission pass failed; completing the job alone");
    }
  }
  const done = await markComplete(deps, job.id, result);
  return { job: done, queued: deps.renderQueue.admit(job.orgId) };
}

/** Makes the group final once no item is left unfinished. Returns the group when it changed. */
async function settleGroup(tx: Tx, groupId: string): Promise<Job | null> {
  // Lock the group row: two items finishing at once on two workers settle it exactly once.
  await lockJob(tx, groupId);
  const items = await findGroupItemStatuses(tx, groupId);
  if (items.some((s) => s === "pending" || s === "processing")) return null;
  const failed = items.filter((s) => s === "failed").length;
  return settleUnfinishedGroupJob(tx, groupId, failed ? `${failed} of ${items.length} items failed` : null);
}
