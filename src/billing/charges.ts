// Charging for renders. The debit is one conditional UPDATE inside the caller's transaction, so
// two concurrent requests can never both spend the last cent, and a refused debit leaves nothing
// behind. Charge and refund rows are unique per (job, kind): nothing is charged or refunded twice.
import { newId } from "../db/ids.js";
import type { Prisma } from "../db/client.js";

type Tx = Parameters<Parameters<Prisma["$transaction"]>[0]>[0];

export class InsufficientBalanceError extends Error {
  constructor() {
    super("Insufficient balance");
  }
}

export class AccountSuspendedError extends Error {
  constructor() {
    super("Account suspended: update the payment method to resume rendering");
  }
}

/**
 * Takes `cents` from the organisation, or throws InsufficientBalanceError /
 * AccountSuspendedError. Must run inside the transaction that creates what is being paid for.
 */
export async function debit(tx: Tx, orgId: string, cents: number): Promise<void> {
  const updated = await tx.$executeRaw`
    UPDATE "organizations" SET "balance_cents" = "balance_cents" - ${cents}
    WHERE "id" = ${orgId} AND "balance_cents" >= ${cents} AND "status" = 'ACTIVE'`;
  if (updated === 1) return;
  const org = await tx.organization.findUnique({ where: { id: orgId }, select: { status: true } });
  if (org?.status === "SUSPENDED") throw new AccountSuspendedError();
  throw new InsufficientBalanceError();
}

/** The CHARGE ledger row for a job; call in the same transaction as debit(). */
export async function recordCharge(tx: Tx, orgId: string, jobId: string, cents: number): Promise<void> {
  await tx.ledgerEntry.create({ data: { id: newId("led"), orgId, jobId, kind: "CHARGE", amountCents: -cents } });
}

/**
 * Gives back what a job was charged, at most once: the REFUND row is inserted with ON CONFLICT
 * DO NOTHING on (job_id, kind), and the balance moves only when that row was new.
 * Returns the cents refunded (0 when already refunded or never charged).
 */
export async function refundJob(tx: Tx, jobId: string): Promise<number> {
  const charge = await tx.ledgerEntry.findUnique({ where: { jobId_kind: { jobId, kind: "CHARGE" } } });
  if (!charge || charge.amountCents === 0) return 0;
  const cents = -charge.amountCents;
  const inserted = await tx.ledgerEntry.createMany({
    data: [{ id: newId("led"), orgId: charge.orgId, jobId, kind: "REFUND", amountCents: cents, note: "render failed" }],
    skipDuplicates: true,
  });
  if (inserted.count === 0) return 0;
  await tx.organization.update({ where: { id: charge.orgId }, data: { balanceCents: { increment: cents } } });
  return cents;
}
