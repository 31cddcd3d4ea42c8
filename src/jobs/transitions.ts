// The status transitions the render worker drives, each written to Postgres first and then
// announced. A group job follows its items: processing when the first starts, and final — in the
// same transaction as its last item — complete when all are complete, failed when any failed.
import { refundJob } from "../billing/charges.js";
import { queueDeliveries } from "../delivery/accept.js";
import type { Prisma } from "../db/client.js";
import type { Job } from "../generated/prisma/client.js";
import { announce, type JobsDeps } from "./service.js";

type Tx = Parameters<Parameters<Prisma["$transaction"]>[0]>[0];

/**
 * pending|processing -> processing. Returns null when the job is already final (a duplicate or
 * late delivery from the queue) or is a group job (never rendered itself): the caller must then
 * do nothing.
 */
export async function markProcessing(deps: JobsDeps, jobId: string): Promise<Job | null> {
  const rows = await deps.prisma.$queryRaw<{ id: string }[]>`
    UPDATE "jobs" SET "status" = 'processing', "started_at" = COALESCE("started_at", now()), "attempts" = "attempts" + 1
    WHERE "id" = ${jobId} AND "kind" = 'render' AND "status" IN ('pending', 'processing') RETURNING "id"`;
  if (rows.length === 0) return null;
  const job = await deps.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  if (job.attempts === 1) await announce(deps, job); // retries stay "processing": nothing new to say
  if (job.parentId) {
    const started = await deps.prisma.job.updateMany({
      where: { id: job.parentId, status: "pending" },
      data: { status: "processing", startedAt: new Date() },
    });
    if (started.count) await announce(deps, await deps.prisma.job.findUniqueOrThrow({ where: { id: job.parentId } }));
  }
  return job;
}

export async function markComplete(deps: JobsDeps, jobId: string, result: { outputKey: string; renderMs: number }): Promise<Job | null> {
  return finish(deps, jobId, async (tx) => {
    const updated = await tx.job.updateMany({
      where: { id: jobId, status: { in: ["pending", "processing"] } },
      data: { status: "complete", outputKey: result.outputKey, renderMs: result.renderMs, completedAt: new Date(), error: null },
    });
    return updated.count > 0;
  });
}

/** Ends the job as failed and refunds its charge, both at most once, in one transaction. */
export async function markFailed(deps: JobsDeps, jobId: string, error: string): Promise<Job | null> {
  return finish(deps, jobId, async (tx) => {
    const updated = await tx.job.updateMany({
      where: { id: jobId, status: { in: ["pending", "processing"] } },
      data: { status: "failed", error: error.slice(0, 2000), completedAt: new Date() },
    });
    if (updated.count === 0) return false;
    await refundJob(tx, jobId);
    return true;
  });
}

/** Runs a final transition and, in the same transaction, settles the job's group. */
async function finish(deps: JobsDeps, jobId: string, transition: (tx: Tx) => Promise<boolean>): Promise<Job | null> {
  const changed = await deps.prisma.$transaction(async (tx) => {
    if (!(await transition(tx))) return null;
    const job = await tx.job.findUniqueOrThrow({ where: { id: jobId } });
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
  await tx.$queryRaw`SELECT "id" FROM "jobs" WHERE "id" = ${groupId} FOR UPDATE`;
  const items = await tx.job.findMany({ where: { parentId: groupId }, select: { status: true } });
  if (items.some((i) => i.status === "pending" || i.status === "processing")) return null;
  const failed = items.filter((i) => i.status === "failed").length;
  const updated = await tx.job.updateMany({
    where: { id: groupId, status: { in: ["pending", "processing"] } },
    data: failed
      ? { status: "failed", error: `${failed} of ${items.length} items failed`, completedAt: new Date() }
      : { status: "complete", completedAt: new Date() },
  });
  return updated.count ? tx.job.findUniqueOrThrow({ where: { id: groupId } }) : null;
}
