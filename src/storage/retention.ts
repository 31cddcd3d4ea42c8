// Output retention (OUTPUT_RETENTION_DAYS): outputs of jobs completed longer ago than N days are
// deleted from storage, whichever backend holds them. The job stays listed and keeps its
// output_url; the row records when its output went (jobs.output_deleted_at), so the /renders
// route can answer 410 instead of 404, the view can say output_expired_at, and delivery can say
// why there is nothing to send.
//
// Safe with any number of processes sweeping at once: each batch is claimed with
// FOR UPDATE SKIP LOCKED inside one transaction, the objects are deleted while the rows are held,
// and the rows are marked before the transaction commits. A crash between delete and commit
// leaves the rows unmarked, and the next pass deletes again (deleting a missing object is a no-op)
// and marks them: an output is never marked deleted while it is still stored.
import type { Logger } from "pino";
import type { Prisma } from "../db/client.js";
import type { Sql } from "../db/sql.js";
import { isRenderKey, RENDER_KEY, type Storage } from "./storage.js";
import { startPeriodic, type Periodic } from "../periodic.js";

const DAY_MS = 86_400_000;

export interface RetentionDeps {
  prisma: Prisma;
  storage: Pick<Storage, "delete">;
  logger: Logger;
}

export interface SweepOptions {
  days: number;
  /** The sweep's clock (tests pass their own); outputs of jobs completed before now - days go. */
  now?: Date;
  /** Rows claimed per transaction. */
  batch?: number;
  /** Batches per pass at most, so one pass has an end even when a backlog is huge. */
  maxBatches?: number;
}

/** The text of a deleted output's 410 and of a send_to that found nothing to send. */
export const outputExpiredMessage = (days: number | undefined) =>
  days === undefined
    ? "output expired: deleted by the output retention policy"
    : `output expired: deleted after ${days} days retention`;

/** One pass: deletes the outputs due and marks their jobs; how many it deleted. */
export async function sweepOnce(deps: RetentionDeps, opts: SweepOptions): Promise<number> {
  const cutoff = new Date((opts.now ?? new Date()).getTime() - opts.days * DAY_MS);
  const batch = opts.batch ?? 200;
  let deleted = 0;
  for (let round = 0; round < (opts.maxBatches ?? 50); round++) {
    const { claimed, removed } = await sweepBatch(deps, cutoff, batch);
    deleted += removed;
    if (claimed < batch) break;
  }
  if (deleted > 0) deps.logger.info({ deleted, days: opts.days }, "retention deleted old outputs");
  return deleted;
}

async function sweepBatch(
  deps: RetentionDeps,
  cutoff: Date,
  batch: number,
): Promise<{ claimed: number; removed: number }> {
  return deps.prisma.$transaction(
    async (tx) => {
      // Only complete jobs' own outputs: keys come from jobs.output_key, never from listing the
      // storage, and only keys of an output's shape (the same pattern, as a POSIX regex), so
      // uploaded fonts (same storage, fonts/...) cannot be reached, and a row with any other key
      // is never claimed (claimed again and again, it would fill every batch). The conditions
      // before completed_at are jobs_output_retention_idx's columns: a pass reads only rows still
      // to sweep, however many earlier passes swept (or failed jobs and groups there are).
      const due = await tx.$queryRaw<{ id: string; output_key: string }[]>`
        SELECT "id", "output_key" FROM "jobs"
        WHERE "kind" = 'render' AND "status" = 'complete' AND "output_deleted_at" IS NULL
          AND "completed_at" < ${cutoff} AND "output_key" IS NOT NULL AND "output_key" ~ ${RENDER_KEY.source}
        ORDER BY "completed_at"
        LIMIT ${batch}
        FOR UPDATE SKIP LOCKED`;
      const ids: string[] = [];
      for (const row of due) {
        // Never reached (the query filters them); kept so no other key can ever be deleted here.
        if (!isRenderKey(row.output_key)) {
          deps.logger.warn({ jobId: row.id, key: row.output_key }, "retention skipped an output key of unknown shape");
          continue;
        }
        await deps.storage.delete(row.output_key);
        ids.push(row.id);
      }
      if (ids.length > 0)
        await tx.$executeRaw`UPDATE "jobs" SET "output_deleted_at" = now() WHERE "id" = ANY(${ids}::text[])`;
      return { claimed: due.length, removed: ids.length };
    },
    // Deleting a batch from an object store takes a while; the default 5 s would cut it short.
    { timeout: 120_000 },
  );
}

/** When retention deleted the output stored at `key` (a job's output key), or null. One indexed read. */
export async function outputDeletedAt(sql: Sql, key: string): Promise<Date | null> {
  const jobId = key.slice(0, key.lastIndexOf("."));
  const rows = await sql.query<{ output_deleted_at: Date | null }>(
    `SELECT "output_deleted_at" FROM "jobs" WHERE "id" = $1 AND "output_key" = $2`,
    [jobId, key],
  );
  return rows[0]?.output_deleted_at ?? null;
}

/** Runs sweepOnce every `intervalMs` (one pass at a time per process); stop waits for a pass in flight. */
export function startRetentionSweeper(deps: RetentionDeps, days: number, intervalMs: number): Periodic {
  return startPeriodic(() => sweepOnce(deps, { days }), intervalMs, {
    logger: deps.logger,
    message: "retention pass failed; will retry",
  });
}
