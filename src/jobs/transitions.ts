// The status transitions the render worker drives, each written to Postgres first and then
// announced. A group job follows its items: processing when the first starts, and final — in the
// same transaction as its last item — complete when all are complete, failed when any failed.
import { refundJob } from "../billing/charges.js";
import { queueDeliveries } from "../delivery/accept.js";
import type { Tx } from "../db/client.js";
import type { Job } from "../generated/prisma/client.js";
import {
  claimJobForProcessing,
  completeUnfinishedJob,
  failUnfinishedJob,
  findGroupItemStatuses,
  getJobById,
  lockJob,
  settleUnfinishedGroupJob,
  startGroupJob,
} from "./job-repository.js";
import { announce, type JobsDeps } from "./service.js";

/**
 * pending|processing -> processing. Returns null when the job is already final (a duplicate or
 * late delivery from the queue) or is a group job (never rendered itself): the caller must then
 * do nothing.
 */
export async function markProcessing(deps: JobsDeps, jobId: string): Promise<Job | null> {
  if (!(await claimJobForProcessing(deps.prisma, jobId))) return null;
  const job = await getJobById(deps.prisma, jobId);
  if (job.attempts === 1) await announce(deps, job); // retries stay "processing": nothing new to say
  if (job.parentId && (await startGroupJob(deps.prisma, job.parentId))) await announce(deps, await getJobById(deps.prisma, job.parentId));
  return job;
}

export async function markComplete(deps: JobsDeps, jobId: string, result: { outputKey: string; renderMs: number }): Promise<Job | null> {
  return finish(deps, jobId, (tx) => completeUnfinishedJob(tx, jobId, result));
}

/** Ends the job as failed and refunds its charge, both at most once, in one transaction. */
export async function markFailed(deps: JobsDeps, jobId: string, error: string): Promise<Job | null> {
  return finish(deps, jobId, async (tx) => {
    if (!(await failUnfinishedJob(tx, jobId, error.slice(0, 2000)))) return false;
    await refundJob(tx, jobId);
    return true;
  });
}

/** Runs a final transition and, in the same transaction, settles the job's group. */
async function finish(deps: JobsDeps, jobId: string, transition: (tx: Tx) => Promise<boolean>): Promise<Job | null> {
  const changed = await deps.prisma.$transaction(async (tx) => {
    if (!(await transition(tx))) return null;
    const job = await getJobById(tx, jobId);
    const group = job.parentId ? await settleGroup(tx, job.parentId) : null;
    return { job, group };
  });
  if (!changed) return null;
  await announce(deps, changed.job);
  await queueDeliveries(deps, changed.job);
  if (changed.group) {
    await announce(deps, changed.group);
    await queueDeliveries(deps, changed.group);
  }
  return changed.job;
}

/** Makes the group final once no item is left unfinished. Returns the group when it changed. */
async function settleGroup(tx: Tx, groupId: string): Promise<Job | null> {
  // Lock the group row: two items finishing at once on two workers settle it exactly once.
  await lockJob(tx, groupId);
  const items = await findGroupItemStatuses(tx, groupId);
  if (items.some((s) => s === "pending" || s === "processing")) return null;
  const failed = items.filter((s) => s === "failed").length;
  const settled = await settleUnfinishedGroupJob(tx, groupId, failed ? `${failed} of ${items.length} items failed` : null);
  return settled ? getJobById(tx, groupId) : null;
}
