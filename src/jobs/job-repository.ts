// Every query on the jobs table that the job domain (accept, transitions, reads) and the
// reconciler run. Each function takes a `Db`, so it runs alone or inside the caller's
// transaction; none opens a transaction of its own. The status guards that make a transition
// happen at most once are part of the queries (`WHERE status IN (...)`): a caller learns from
// the boolean whether its change happened.
import type { Db, Tx } from "../db/client.js";
import { afterCursor, newestFirst, toPage, type Page, type PageQuery } from "../db/pagination.js";
import type { Job, JobStatus, Prisma as P } from "../generated/prisma/client.js";

/** The columns of a new job; id, org and price are the caller's, the rest has defaults. */
export type NewJob = P.JobUncheckedCreateInput;

export async function insertJob(db: Db, row: NewJob): Promise<Job> {
  return db.job.create({ data: row });
}

/** The job; throws when it does not exist (for ids the caller just wrote or read). */
export async function getJobById(db: Db, jobId: string): Promise<Job> {
  return db.job.findUniqueOrThrow({ where: { id: jobId } });
}

/** The organisation's job, or null — another organisation's job does not exist. */
export async function findJobForOrg(db: Db, orgId: string, jobId: string): Promise<Job | null> {
  const job = await db.job.findUnique({ where: { id: jobId } });
  return job && job.orgId === orgId ? job : null;
}

/** A group job's items, in id order. */
export async function findGroupItems(db: Db, groupId: string): Promise<Job[]> {
  return db.job.findMany({ where: { parentId: groupId }, orderBy: { id: "asc" } });
}

export interface JobListFilter {
  status?: JobStatus | undefined;
  templateId?: string | undefined;
}

/** The organisation's jobs, newest first, keyset-paginated. */
export async function listJobsForOrg(db: Db, orgId: string, filter: JobListFilter, page: PageQuery): Promise<Page<Job>> {
  const rows = await db.job.findMany({
    where: {
      orgId,
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.templateId ? { templateId: filter.templateId } : {}),
      ...afterCursor(page.cursor),
    },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

// ---- transitions ------------------------------------------------------------------------------

/**
 * pending|processing -> processing for a render job, counting the attempt; started_at keeps the
 * first start. Returns false (nothing changed) when the job is final, a group job, or missing.
 */
export async function claimJobForProcessing(db: Db, jobId: string): Promise<boolean> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "jobs" SET "status" = 'processing', "started_at" = COALESCE("started_at", now()), "attempts" = "attempts" + 1
    WHERE "id" = ${jobId} AND "kind" = 'render' AND "status" IN ('pending', 'processing') RETURNING "id"`;
  return rows.length > 0;
}

/** A pending group job -> processing. Returns whether it changed (only the first item's start does). */
export async function startGroupJob(db: Db, groupId: string): Promise<boolean> {
  const started = await db.job.updateMany({
    where: { id: groupId, status: "pending" },
    data: { status: "processing", startedAt: new Date() },
  });
  return started.count > 0;
}

const unfinished = { in: ["pending", "processing"] as JobStatus[] };

/** An unfinished job -> complete with its output. Returns false when it was already final. */
export async function completeUnfinishedJob(db: Db, jobId: string, result: { outputKey: string; renderMs: number }): Promise<boolean> {
  const updated = await db.job.updateMany({
    where: { id: jobId, status: unfinished },
    data: { status: "complete", outputKey: result.outputKey, renderMs: result.renderMs, completedAt: new Date(), error: null },
  });
  return updated.count > 0;
}

/** An unfinished job -> failed with the error. Returns false when it was already final. */
export async function failUnfinishedJob(db: Db, jobId: string, error: string): Promise<boolean> {
  const updated = await db.job.updateMany({
    where: { id: jobId, status: unfinished },
    data: { status: "failed", error, completedAt: new Date() },
  });
  return updated.count > 0;
}

/**
 * Holds the job's row lock until the transaction ends: whoever takes it second waits, then sees
 * the first one's writes.
 */
export async function lockJob(tx: Tx, jobId: string): Promise<void> {
  await tx.$queryRaw`SELECT "id" FROM "jobs" WHERE "id" = ${jobId} FOR UPDATE`;
}

export async function findGroupItemStatuses(db: Db, groupId: string): Promise<JobStatus[]> {
  const items = await db.job.findMany({ where: { parentId: groupId }, select: { status: true } });
  return items.map((i) => i.status);
}

/**
 * An unfinished group job -> final: failed with `failure` when given, else complete. Returns
 * false when it was already final.
 */
export async function settleUnfinishedGroupJob(db: Db, groupId: string, failure: string | null): Promise<boolean> {
  const updated = await db.job.updateMany({
    where: { id: groupId, status: unfinished },
    data: failure ? { status: "failed", error: failure, completedAt: new Date() } : { status: "complete", completedAt: new Date() },
  });
  return updated.count > 0;
}

// ---- the reconciler's scans -------------------------------------------------------------------

/**
 * Jobs final before `completedBefore` whose delivery is still owed: a complete job's send_to
 * not yet delivered or failed, or a final job's webhook still pending.
 */
export async function findJobsOwingDelivery(db: Db, completedBefore: Date, limit: number): Promise<Pick<Job, "id" | "status" | "sendToStatus">[]> {
  return db.job.findMany({
    where: {
      completedAt: { lt: completedBefore },
      OR: [{ status: "complete", sendToStatus: { in: ["pending", "delivering"] } }, { status: { in: ["complete", "failed"] }, webhookStatus: "pending" }],
    },
    select: { id: true, status: true, sendToStatus: true },
    take: limit,
  });
}
