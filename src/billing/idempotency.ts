// Idempotency keys with Stripe's semantics, for every request that creates (and charges for) a job:
// the same key with the same request within 24 hours gives back the first result, no second job
// and no second charge; the same key with a different request is refused; concurrent requests
// with one key create one job. The key row is claimed inside the transaction that debits and
// creates the job, so a refused request (402, 4xx) leaves no key behind and may be retried.
import { createHash } from "node:crypto";
import type { Prisma } from "../db/client.js";

type Tx = Parameters<Parameters<Prisma["$transaction"]>[0]>[0];

export const IDEMPOTENCY_WINDOW_HOURS = 24;

export class IdempotencyConflictError extends Error {
  constructor(key: string) {
    super(`Idempotency-Key "${key}" was already used with a different request; use a new key for a new request`);
  }
}

export interface IdempotencyClaim {
  key: string;
  /** What the request asked for (route and body), hashed: a replay must ask for the same. */
  fingerprint: string;
}

/** A stable hash of what a request asks for: the operation and its input, keys sorted. */
export function requestFingerprint(operation: string, input: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
        : v;
  return createHash("sha256").update(operation).update("\0").update(JSON.stringify(canonical(input))).digest("hex");
}

/**
 * Claims the key for this request inside `tx`. Returns null when the claim is new (go on and
 * create), or the job id the key already produced (replay it). Throws IdempotencyConflictError
 * when the key belongs to a different request. A concurrent claim of the same key waits here
 * until the first transaction commits (then replays) or rolls back (then claims).
 */
export async function claimIdempotencyKey(tx: Tx, orgId: string, claim: IdempotencyClaim): Promise<string | null> {
  await tx.$executeRaw`
    DELETE FROM "idempotency_keys"
    WHERE "org_id" = ${orgId} AND "key" = ${claim.key}
      AND "created_at" < now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})`;
  const inserted = await tx.$executeRaw`
    INSERT INTO "idempotency_keys" ("org_id", "key", "fingerprint") VALUES (${orgId}, ${claim.key}, ${claim.fingerprint})
    ON CONFLICT ("org_id", "key") DO NOTHING`;
  if (inserted === 1) return null;
  const existing = await tx.idempotencyKey.findUniqueOrThrow({ where: { orgId_key: { orgId, key: claim.key } } });
  if (existing.fingerprint !== claim.fingerprint || !existing.jobId) throw new IdempotencyConflictError(claim.key);
  return existing.jobId;
}

/**
 * Without claiming: the job a key already produced within the window, null when the key is
 * unused, IdempotencyConflictError when it belongs to a different request.
 */
export async function findIdempotentJob(db: Tx | Prisma, orgId: string, claim: IdempotencyClaim): Promise<string | null> {
  const rows = await db.$queryRaw<{ fingerprint: string; job_id: string | null }[]>`
    SELECT "fingerprint", "job_id" FROM "idempotency_keys"
    WHERE "org_id" = ${orgId} AND "key" = ${claim.key}
      AND "created_at" >= now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})`;
  const row = rows[0];
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint || !row.job_id) throw new IdempotencyConflictError(claim.key);
  return row.job_id;
}

/** Records what the claimed key produced; same transaction as the claim. */
export async function completeIdempotencyKey(tx: Tx, orgId: string, key: string, jobId: string): Promise<void> {
  await tx.idempotencyKey.update({ where: { orgId_key: { orgId, key } }, data: { jobId } });
}
