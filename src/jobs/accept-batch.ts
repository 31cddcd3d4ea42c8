// Group commit for the hot path (a render without an idempotency key): the accepts of one
// organisation that arrive while its previous statement runs are written together by the next
// one — one debit of their total, their jobs and their CHARGE rows, one commit (acceptPaidRenders).
// One client alone waits for nobody: its accept goes out in the same turn of the event loop; under
// load, batches grow by themselves and the organisation's balance row is locked once per batch
// instead of once per request.
//
// Nothing about the money changes: a batch is all or none, and when it is refused (a balance that
// does not cover all of it, a suspended organisation, a template that changed) or fails, its
// accepts are retried one by one in arrival order, so each is accepted or refused exactly as it
// would have been alone — 402 before anything exists, the balance never below zero, one CHARGE
// row per job.
import { debitRefusal } from "../billing/charges.js";
import type { Prisma } from "../db/client.js";
import { acceptPaidRenders, type EncodedPaidRender } from "./job-repository.js";

/** Accepted (the jobs' created_at), or its template is no longer the version it was planned from. */
export type BatchOutcome = { createdAt: Date } | "stale";

interface Waiting {
  render: EncodedPaidRender;
  resolve: (outcome: BatchOutcome) => void;
  reject: (error: unknown) => void;
}

/** At most this many accepts, and about this many characters of JSON, in one statement. */
const MAX_BATCH = 100;
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

/** Per database client: the organisations with an accept waiting or being written, in order. */
const lanesByDb = new WeakMap<Prisma, Map<string, Waiting[]>>();

/**
 * Writes the render (debit, job, CHARGE row) with whatever else of the organisation is waiting.
 * Rejects with InsufficientBalanceError / AccountSuspendedError when the organisation cannot pay
 * for it; nothing of it is written then.
 */
export function acceptInBatch(prisma: Prisma, orgId: string, render: EncodedPaidRender): Promise<BatchOutcome> {
  let lanes = lanesByDb.get(prisma);
  if (!lanes) lanesByDb.set(prisma, (lanes = new Map<string, Waiting[]>()));
  const all = lanes;
  return new Promise<BatchOutcome>((resolve, reject) => {
    const waiting = { render, resolve, reject };
    const lane = all.get(orgId);
    if (lane) {
      lane.push(waiting);
      return;
    }
    all.set(orgId, [waiting]);
    // After this turn's other I/O callbacks: requests that arrived together go together.
    setImmediate(() => void drain(prisma, all, orgId));
  });
}

async function drain(prisma: Prisma, lanes: Map<string, Waiting[]>, orgId: string): Promise<void> {
  const lane = lanes.get(orgId)!;
  try {
    while (lane.length > 0) {
      let chars = 0;
      let n = 0;
      while (n < lane.length && n < MAX_BATCH && (n === 0 || chars + lane[n]!.render.json.length <= MAX_BATCH_CHARS)) {
        chars += lane[n]!.render.json.length;
        n++;
      }
      await write(prisma, orgId, lane.splice(0, n));
    }
  } catch (e) {
    // write() settles what it took and does not throw; should that ever change, nobody waits forever.
    for (const w of lane.splice(0)) w.reject(e);
  } finally {
    // Nothing awaited between the emptiness check and this: no accept can be left behind.
    lanes.delete(orgId);
  }
}

/** Writes the batch and settles every accept in it; never throws. */
async function write(prisma: Prisma, orgId: string, batch: Waiting[]): Promise<void> {
  try {
    const outcome = await acceptPaidRenders(
      prisma,
      orgId,
      batch.map((w) => w.render),
    );
    if (outcome.accepted) {
      for (const w of batch) w.resolve({ createdAt: outcome.createdAt! });
      return;
    }
    if (batch.length === 1) {
      if (outcome.current < 1) batch[0]!.resolve("stale");
      else batch[0]!.reject(await debitRefusal(prisma, orgId));
      return;
    }
  } catch (e) {
    if (batch.length === 1) {
      batch[0]!.reject(e);
      return;
    }
  }
  // Refused or failed as a whole: each on its own, in arrival order.
  for (const w of batch) await write(prisma, orgId, [w]);
}
