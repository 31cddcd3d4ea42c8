// Every query on the jobs table that the job domain (accept, transitions, reads) and the
// reconciler run. Each function takes a `Db`, so it runs alone or inside the caller's
// transaction; none opens a transaction of its own. The status guards that make a transition
// happen at most once are part of the queries (`WHERE status IN (...)`): a caller learns from
// the row returned (or null) whether its change happened. Two statements here move money with a
// job, because doing it in the same statement is what makes them cheap and atomic: the accept
// (debit + jobs + CHARGE rows, acceptPaidRenders) and the failure (+ REFUND row and credit,
// failUnfinishedJob); they keep the rules of src/billing/charges.ts — a conditional debit that
// never goes below zero, one CHARGE and at most one REFUND per job, the ledger moving with the
// balance.
import type { Db, Tx } from "../db/client.js";
import { newId } from "../db/ids.js";
import {
  execute,
  intLiteral,
  literal,
  type PreparedStatement,
  type ScriptStatement,
  type SqlQuery,
} from "../db/sql.js";
import { afterCursor, newestFirst, toPage, type Page, type PageQuery } from "../db/pagination.js";
import { Prisma as P, type Job, type JobStatus } from "../generated/prisma/client.js";

/** The columns of a new job; id, org and price are the caller's, the rest has defaults. */
export type NewJob = P.JobUncheckedCreateInput;

export async function insertJob(db: Db, row: NewJob): Promise<Job> {
  return db.job.create({ data: row });
}

/**
 * Every column of a job under the name Prisma gives it: a raw statement that selects these (from
 * `jobs` or from a CTE's `RETURNING *`) reads as a `Job`, exactly as `db.job.findUnique` would.
 */
const JOB_COLUMN_LIST = [
  `"id"`,
  `"org_id" AS "orgId"`,
  `"kind"`,
  `"template_id" AS "templateId"`,
  `"template_version" AS "templateVersion"`,
  `"design_group_id" AS "designGroupId"`,
  `"parent_id" AS "parentId"`,
  `"status"`,
  `"input"`,
  `"document"`,
  `"format"`,
  `"price_cents" AS "priceCents"`,
  `"output_key" AS "outputKey"`,
  `"render_ms" AS "renderMs"`,
  `"error"`,
  `"attempts"`,
  `"webhook_url" AS "webhookUrl"`,
  `"webhook_status" AS "webhookStatus"`,
  `"send_to" AS "sendTo"`,
  `"send_to_status" AS "sendToStatus"`,
  `"send_to_error" AS "sendToError"`,
  `"send_to_result" AS "sendToResult"`,
  `"created_at" AS "createdAt"`,
  `"started_at" AS "startedAt"`,
  `"completed_at" AS "completedAt"`,
  `"queued_at" AS "queuedAt"`,
  `"output_deleted_at" AS "outputDeletedAt"`,
].join(", ");
const JOB_COLUMNS = P.raw(JOB_COLUMN_LIST);

/** A render job to accept: what `acceptPaidRenders` inserts, with its CHARGE row's id. */
export interface PaidRender {
  id: string;
  ledgerId: string;
  templateId: string;
  templateVersion: number;
  input: unknown;
  document: unknown;
  format: string;
  priceCents: number;
  webhookUrl: string | null;
  webhookStatus: string | null;
  sendTo: string | null;
  sendToStatus: string | null;
}

/** A PaidRender as the accept statement reads it: one JSON object (its length bounds a batch). */
export interface EncodedPaidRender {
  json: string;
  priceCents: number;
}

export const encodePaidRender = (r: PaidRender): EncodedPaidRender => ({
  json: JSON.stringify({
    id: r.id,
    led: r.ledgerId,
    template_id: r.templateId,
    template_version: r.templateVersion,
    input: r.input,
    document: r.document,
    format: r.format,
    price: r.priceCents,
    webhook_url: r.webhookUrl,
    webhook_status: r.webhookStatus,
    send_to: r.sendTo,
    send_to_status: r.sendToStatus,
  }),
  priceCents: r.priceCents,
});

export interface PaidRendersOutcome {
  /** The jobs exist, their CHARGE rows too, and the organisation paid for all of them. */
  accepted: boolean;
  /** When accepted: the jobs' created_at (one transaction, one time). */
  createdAt: Date | null;
  /** How many of the renders name their template's current version (all of them when accepted). */
  current: number;
}

/**
 * Accepts render jobs of one organisation, all or none, in ONE statement: the debit of their
 * total (the same conditional UPDATE as `debitBalance`: an ACTIVE organisation whose balance
 * covers it, never below zero), the job rows and one CHARGE row each — so the ledger moves with
 * the balance. Nothing is written unless every render names its template's current version (live,
 * the organisation's): a caller that planned from a cached template learns it is stale instead.
 * When nothing was accepted, the caller tells "stale" (current < renders) from a refused debit.
 */
export async function acceptPaidRenders(
  db: Db,
  orgId: string,
  renders: readonly EncodedPaidRender[],
): Promise<PaidRendersOutcome> {
  const total = renders.reduce((sum, r) => sum + r.priceCents, 0);
  const rows = `[${renders.map((r) => r.json).join(",")}]`;
  const [result] = await db.$queryRaw<{ current: number; jobs: number; created_at: Date | null }[]>`
    WITH "req" AS (
      SELECT * FROM jsonb_to_recordset(${rows}::jsonb) AS r(
        "id" text, "led" text, "template_id" text, "template_version" int, "input" jsonb, "document" jsonb,
        "format" text, "price" int, "webhook_url" text, "webhook_status" text, "send_to" text, "send_to_status" text)
    ), "current" AS (
      SELECT count(*)::int AS "n" FROM "req" JOIN "templates" t
        ON t."id" = "req"."template_id" AND t."org_id" = ${orgId} AND t."version" = "req"."template_version" AND t."deleted_at" IS NULL
    ), "debit" AS (
      UPDATE "organizations" SET "balance_cents" = "balance_cents" - ${total}
      WHERE "id" = ${orgId} AND "balance_cents" >= ${total} AND "status" = 'ACTIVE'
        AND (SELECT "n" FROM "current") = ${renders.length}
      RETURNING "id"
    ), "job" AS (
      INSERT INTO "jobs" ("id", "org_id", "template_id", "template_version", "input", "document", "format", "price_cents",
        "webhook_url", "webhook_status", "send_to", "send_to_status")
      SELECT "req"."id", "debit"."id", "req"."template_id", "req"."template_version", "req"."input", "req"."document",
        "req"."format", "req"."price", "req"."webhook_url", "req"."webhook_status", "req"."send_to", "req"."send_to_status"
      FROM "req" CROSS JOIN "debit"
      RETURNING "id", "created_at"
    ), "charge" AS (
      INSERT INTO "ledger_entries" ("id", "org_id", "job_id", "kind", "amount_cents")
      SELECT "req"."led", ${orgId}, "job"."id", 'CHARGE'::"LedgerKind", -"req"."price" FROM "req" JOIN "job" ON "job"."id" = "req"."id"
    )
    SELECT (SELECT "n" FROM "current") AS "current", (SELECT count(*)::int FROM "job") AS "jobs",
      (SELECT max("created_at") FROM "job") AS "created_at"`;
  // All or none: every job row hangs off the one debit row, every CHARGE row off its job.
  return { accepted: result!.jobs > 0, createdAt: result!.created_at, current: result!.current };
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
export async function listJobsForOrg(
  db: Db,
  orgId: string,
  filter: JobListFilter,
  page: PageQuery,
): Promise<Page<Job>> {
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
// Each is ONE statement that changes the row only from the states it may leave, and returns the
// row as it now is (null: nothing changed), so that announcing it needs no second read.

/**
 * pending|processing -> processing for a render job, counting the attempt; started_at keeps the
 * first start. Null (nothing changed) when the job is final, a group job, or missing.
 */
export async function claimJobForProcessing(sql: SqlQuery, jobId: string): Promise<Job | null> {
  const rows = await sql.query<Job>(CLAIM, [jobId], "templified_claim_job");
  return rows[0] ?? null;
}
const CLAIM = `
  UPDATE "jobs" SET "status" = 'processing', "started_at" = COALESCE("started_at", now()), "attempts" = "attempts" + 1
  WHERE "id" = $1 AND "kind" = 'render' AND "status" IN ('pending', 'processing')
  RETURNING ${JOB_COLUMN_LIST}`;

/** A pending group job -> processing; null unless it changed (only the first item's start does). */
export async function startGroupJob(db: Db, groupId: string): Promise<Job | null> {
  const rows = await db.$queryRaw<Job[]>`
    UPDATE "jobs" SET "status" = 'processing', "started_at" = now()
    WHERE "id" = ${groupId} AND "status" = 'pending'
    RETURNING ${JOB_COLUMNS}`;
  return rows[0] ?? null;
}

/**
 * Which jobs a final transition may change: any, or only a job outside a group ("standalone"),
 * for a caller that is not in a transaction — an item's group must be settled in the same one.
 */
export type FinalScope = "any" | "standalone";
const scopeGuard = (scope: FinalScope) => (scope === "standalone" ? `AND "parent_id" IS NULL` : "");

/**
 * An unfinished job -> complete with its output (an earlier attempt's error cleared). Null when
 * nothing changed: already final, missing, or outside `scope`.
 */
export async function completeUnfinishedJob(
  sql: SqlQuery,
  jobId: string,
  result: { outputKey: string; renderMs: number },
  scope: FinalScope = "any",
): Promise<Job | null> {
  const rows = await sql.query<Job>(
    COMPLETE[scope],
    [jobId, result.outputKey, result.renderMs],
    `templified_complete_job_${scope}`,
  );
  return rows[0] ?? null;
}
/** The completion, given its values as SQL (placeholders or literals). */
const completeSql = (id: string, outputKey: string, renderMs: string, scope: FinalScope) =>
  `UPDATE "jobs" SET "status" = 'complete', "output_key" = ${outputKey}, "render_ms" = ${renderMs}, "completed_at" = now(), "error" = NULL
   WHERE "id" = ${id} AND "status" IN ('pending', 'processing') ${scopeGuard(scope)}
   RETURNING ${JOB_COLUMN_LIST}`;
const COMPLETE = {
  any: completeSql("$1", "$2", "$3::int", "any"),
  standalone: completeSql("$1", "$2", "$3::int", "standalone"),
};

/**
 * completeUnfinishedJob for a job outside a group, as one statement with its values inlined, to
 * run in another's transaction (an admission pass: see completeAndAdmit in transitions.ts). Its
 * rows read as completeUnfinishedJob's.
 */
export const completeStandaloneJobStatement = (
  jobId: string,
  result: { outputKey: string; renderMs: number },
): ScriptStatement =>
  execute(COMPLETE_STANDALONE, literal(jobId), literal(result.outputKey), intLiteral(result.renderMs));
const COMPLETE_STANDALONE: PreparedStatement = {
  name: "templified_complete_standalone",
  types: ["text", "text", "int"],
  text: COMPLETE.standalone,
};

/**
 * An unfinished job -> failed with the error, and its charge refunded in the same statement: the
 * REFUND row is inserted with ON CONFLICT DO NOTHING on the unique (job_id, kind), and the balance
 * is credited only by a REFUND row that this statement inserted. So a job is refunded at most once
 * whatever happens around it (a refund by hand before, a concurrent report), not at all when it
 * was never charged or charged 0, and the ledger moves with the balance. Null as
 * completeUnfinishedJob.
 */
export async function failUnfinishedJob(
  sql: SqlQuery,
  jobId: string,
  error: string,
  scope: FinalScope = "any",
): Promise<Job | null> {
  const rows = await sql.query<Job>(FAIL[scope], [jobId, error, newId("led")], `templified_fail_job_${scope}`);
  return rows[0] ?? null;
}
const FAIL = Object.fromEntries(
  (["any", "standalone"] as const).map((scope) => [
    scope,
    `WITH "failed" AS (
      UPDATE "jobs" SET "status" = 'failed', "error" = $2, "completed_at" = now()
      WHERE "id" = $1 AND "status" IN ('pending', 'processing') ${scopeGuard(scope)}
      RETURNING *
    ), "refund" AS (
      INSERT INTO "ledger_entries" ("id", "org_id", "job_id", "kind", "amount_cents", "note")
      SELECT $3, l."org_id", l."job_id", 'REFUND'::"LedgerKind", -l."amount_cents", 'render failed'
      FROM "ledger_entries" l JOIN "failed" ON "failed"."id" = l."job_id"
      WHERE l."kind" = 'CHARGE' AND l."amount_cents" <> 0
      ON CONFLICT ("job_id", "kind") DO NOTHING
      RETURNING "org_id", "amount_cents"
    ), "credit" AS (
      UPDATE "organizations" o SET "balance_cents" = o."balance_cents" + "refund"."amount_cents"
      FROM "refund" WHERE o."id" = "refund"."org_id"
    )
    SELECT ${JOB_COLUMN_LIST} FROM "failed"`,
  ]),
) as Record<FinalScope, string>;

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
 * An unfinished group job -> final: failed with `failure` when given, else complete. Null when it
 * was already final.
 */
export async function settleUnfinishedGroupJob(db: Db, groupId: string, failure: string | null): Promise<Job | null> {
  const rows = await db.$queryRaw<Job[]>`
    UPDATE "jobs" SET "status" = ${failure ? "failed" : "complete"}::"JobStatus", "error" = ${failure}, "completed_at" = now()
    WHERE "id" = ${groupId} AND "status" IN ('pending', 'processing')
    RETURNING ${JOB_COLUMNS}`;
  return rows[0] ?? null;
}

// ---- the reconciler's scans -------------------------------------------------------------------

/**
 * Jobs final before `completedBefore` whose delivery is still owed: a complete job's send_to
 * not yet delivered or failed, or a final job's webhook still pending.
 */
export async function findJobsOwingDelivery(
  db: Db,
  completedBefore: Date,
  limit: number,
): Promise<Pick<Job, "id" | "status" | "sendToStatus">[]> {
  return db.job.findMany({
    where: {
      completedAt: { lt: completedBefore },
      OR: [
        { status: "complete", sendToStatus: { in: ["pending", "delivering"] } },
        { status: { in: ["complete", "failed"] }, webhookStatus: "pending" },
      ],
    },
    select: { id: true, status: true, sendToStatus: true },
    take: limit,
  });
}
