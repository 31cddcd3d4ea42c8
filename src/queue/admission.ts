// Fair scheduling, first stage: admission to the render queue, decided in PostgreSQL (the record).
//
// An accepted render job is recorded `pending` with `queued_at` NULL: it waits its organisation's
// turn. An organisation holds at most RENDER_ORG_SLOTS render jobs that are admitted and
// unfinished (admitted and still pending in the queue, or processing), across every worker.
// Admission takes the organisation's oldest waiting jobs first (first come, first served within an
// organisation), sets their `queued_at`, and only then are they added to BullMQ. It runs for an
// organisation after its jobs are accepted, after one of its jobs ends (a slot freed), and from the
// reconciler for every organisation with jobs waiting (oldest waiting first: round-robin).
//
// So however many jobs one organisation queues, the render queue holds at most RENDER_ORG_SLOTS of
// them, and another organisation's job is never behind more than that many of theirs. Besides, an
// organisation's only admitted job goes to the front of the queue (BullMQ serves jobs without a
// priority before prioritized ones): a one-off render overtakes the queued work of busy
// organisations. See "Fair scheduling" in docs/operations.md.
//
// Admissions of one organisation are serialised by a transaction-scoped advisory lock, so the
// count they read is never stale and the cap is exact; different organisations do not wait for
// each other. A pass is one round trip: the lock and the admission are two statements sent
// together as one transaction (the second takes its snapshot once the lock is held). A crash between the admission's commit and the BullMQ add leaves an admitted job no
// queue holds: the reconciler adds it (findAdmittedUnfinished).
import type { Prisma } from "../db/client.js";
import { execute, intLiteral, literal, type PreparedStatement, type ScriptStatement, type Sql } from "../db/sql.js";

/** A job admitted to the render queue and the BullMQ priority it goes in with. */
export interface Admitted {
  id: string;
  priority: number;
}

/**
 * The BullMQ priority of an admitted job whose organisation holds `others` other admitted,
 * unfinished jobs: 0 (no priority: served first, in order) when it is the organisation's only one,
 * else 1. Within an organisation this never puts a later job before an earlier one: a job gets 0
 * only when no earlier job of its organisation is still admitted.
 */
export function queuePriority(others: number): number {
  return others === 0 ? 0 : 1;
}

/** SQL: the row `t` holds one of its organisation's slots (admitted and unfinished, or processing however it got there). */
const holdsSlot = (t: string) =>
  `${t}."kind" = 'render' AND (${t}."status" = 'processing' OR (${t}."status" = 'pending' AND ${t}."queued_at" IS NOT NULL))`;

/**
 * One admission pass for the organisation: in one transaction, under the organisation's advisory
 * lock, its oldest waiting jobs are admitted while it holds fewer than `slots`. Returns them in
 * admission order, with their priorities.
 */
export async function admitForOrg(sql: Sql, orgId: string, slots: number): Promise<Admitted[]> {
  return (await admitForOrgAfter(sql, orgId, slots, [])).admitted;
}

/** The admission itself, prepared once per connection: its plan cost the server more than running it. */
const ADMIT: PreparedStatement = {
  name: "templified_admit",
  types: ["text", "int"],
  text: `WITH holding AS (SELECT count(*)::int AS n FROM "jobs" j WHERE j."org_id" = $1 AND ${holdsSlot("j")}),
    next AS (
      SELECT j."id" FROM "jobs" j
      WHERE j."org_id" = $1 AND j."kind" = 'render' AND j."status" = 'pending' AND j."queued_at" IS NULL
      ORDER BY j."created_at", j."id"
      LIMIT (SELECT GREATEST(0, $2 - n) FROM holding)
      FOR UPDATE OF j SKIP LOCKED
    )
    UPDATE "jobs" SET "queued_at" = statement_timestamp() FROM next WHERE "jobs"."id" = next."id"
    RETURNING "jobs"."id", "jobs"."created_at", (SELECT n FROM holding) AS holding`,
};

/**
 * An admission pass that first runs `statements` (values inlined as literals) in its transaction,
 * under its lock: a job that ends and frees its slot hands it on in the same round trip. Rolled
 * back together. Returns what was admitted and the rows of each statement.
 */
export async function admitForOrgAfter(
  sql: Sql,
  orgId: string,
  slots: number,
  statements: readonly ScriptStatement[],
): Promise<{ admitted: Admitted[]; rows: unknown[][] }> {
  const org = literal(orgId);
  // One message, one transaction: the statements after the lock take their snapshots once it is
  // granted, so the admission sees every pass that committed before (a single statement's would not).
  const script = [
    { text: `SELECT pg_advisory_xact_lock(hashtext('templified:admission'), hashtext(${org}))` },
    ...statements,
    execute(ADMIT, org, intLiteral(slots)),
  ];
  const results = await sql.script(
    script.map((s) => s.text).join(";\n"),
    script.flatMap((s) => (s.prepared ? [s.prepared] : [])),
  );
  if (results.length !== script.length) throw new Error(`admission: ${results.length} results`);
  const rows = results[results.length - 1] as { id: string; created_at: Date; holding: number }[];
  rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    admitted: rows.map((r, i) => ({ id: r.id, priority: queuePriority(r.holding + i) })),
    rows: results.slice(1, -1),
  };
}

/** Organisations with render jobs waiting for admission and a slot free, the longest-waiting first. */
export async function findOrgsToAdmit(prisma: Prisma, slots: number, limit: number): Promise<string[]> {
  const rows = await prisma.$queryRawUnsafe<{ org_id: string }[]>(
    `SELECT w."org_id" FROM "jobs" w
     WHERE w."kind" = 'render' AND w."status" = 'pending' AND w."queued_at" IS NULL
     GROUP BY w."org_id"
     HAVING (SELECT count(*) FROM "jobs" h WHERE h."org_id" = w."org_id" AND ${holdsSlot("h")}) < $1
     ORDER BY min(w."created_at") LIMIT $2`,
    slots,
    limit,
  );
  return rows.map((r) => r.org_id);
}

/** An admitted, unfinished render job, for the reconciler. */
export interface AdmittedJob {
  id: string;
  orgId: string;
  /** Its BullMQ priority if it has to be added again. */
  priority: number;
}

/**
 * Admitted render jobs that are unfinished and were admitted before `before`, oldest first: the
 * queue should hold each of them (the reconciler checks). Waiting jobs are not among them: they
 * are not queued until admitted.
 */
export async function findAdmittedUnfinished(prisma: Prisma, before: Date, limit: number): Promise<AdmittedJob[]> {
  const rows = await prisma.$queryRawUnsafe<{ id: string; org_id: string; holding: number }[]>(
    `SELECT j."id", j."org_id",
       (SELECT count(*)::int FROM "jobs" h WHERE h."org_id" = j."org_id" AND ${holdsSlot("h")}) AS holding
     FROM "jobs" j
     WHERE ${holdsSlot("j")} AND COALESCE(j."queued_at", j."created_at") < $1
     ORDER BY COALESCE(j."queued_at", j."created_at") LIMIT $2`,
    before,
    limit,
  );
  return rows.map((r) => ({ id: r.id, orgId: r.org_id, priority: queuePriority(r.holding - 1) }));
}
