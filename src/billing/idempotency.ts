// Idempotency keys with Stripe's semantics, for every request that creates (and charges for) a job:
// the same key with the same request within 24 hours gives back the first result, no second job
// and no second charge; the same key with a different request is refused; concurrent requests
// with one key create one job. The key row is claimed inside the transaction that debits and
// creates the job, so a refused request (402, 4xx) leaves no key behind and may be retried.
import { createHash } from "node:crypto";
import type { Db, Tx } from "../db/client.js";
import {
  deleteExpiredIdempotencyKey,
  findLiveIdempotencyKey,
  getIdempotencyKey,
  insertIdempotencyKey,
  setIdempotencyKeyJob,
} from "./billing-repository.js";

const IDEMPOTENCY_WINDOW_HOURS = 24;

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
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash("sha256")
    .update(operation)
    .update("\0")
    .update(JSON.stringify(canonical(input)))
    .digest("hex");
}

/**
 * Claims the key for this request inside `tx`. Returns null when the claim is new (go on and
 * create), or the job id the key already produced (replay it). Throws IdempotencyConflictError
 * when the key belongs to a different request. A concurrent claim of the same key waits here
 * until the first transaction commits (then replays) or rolls back (then claims).
 */
export async function claimIdempotencyKey(tx: Tx, orgId: string, claim: IdempotencyClaim): Promise<string | null> {
  // An expired key is forgotten first, so the request claims it as new.
  await deleteExpiredIdempotencyKey(tx, orgId, claim.key, IDEMPOTENCY_WINDOW_HOURS);
  if (await insertIdempotencyKey(tx, orgId, claim.key, claim.fingerprint)) return null;
  const existing = await getIdempotencyKey(tx, orgId, claim.key);
  if (existing.fingerprint !== claim.fingerprint || !existing.jobId) throw new IdempotencyConflictError(claim.key);
  return existing.jobId;
}

/**
 * Without claiming: the job a key already produced within the window, null when the key is
 * unused, IdempotencyConflictError when it belongs to a different request.
 */
export async function findIdempotentJob(db: Db, orgId: string, claim: IdempotencyClaim): Promise<string | null> {
  const row = await findLiveIdempotencyKey(db, orgId, claim.key, IDEMPOTENCY_WINDOW_HOURS);
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint || !row.jobId) throw new IdempotencyConflictError(claim.key);
  return row.jobId;
}

/** Records what the claimed key produced; same transaction as the claim. */
export async function completeIdempotencyKey(tx: Tx, orgId: string, key: string, jobId: string): Promise<void> {
  await setIdempotencyKeyJob(tx, orgId, key, jobId);
}
