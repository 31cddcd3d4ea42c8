// Charging for renders. The debit is one conditional UPDATE inside the caller's transaction, so
// two concurrent requests can never both spend the last cent, and a refused debit leaves nothing
// behind. Charge and refund rows are unique per (job, kind): nothing is charged or refunded twice.
// The hot paths apply the same rules inside single statements of the job repository: a render's
// accept (acceptPaidRenders) and its failure with the refund (failUnfinishedJob).
import type { Db, Tx } from "../db/client.js";
import {
  creditBalance,
  debitBalance,
  findJobLedgerEntry,
  findOrganizationStatus,
  insertLedgerEntry,
  insertLedgerEntryOnce,
} from "./billing-repository.js";
import { AccountSuspendedError, InsufficientBalanceError } from "./errors.js";

export { AccountSuspendedError, InsufficientBalanceError };

/**
 * Takes `cents` from the organisation, or throws InsufficientBalanceError /
 * AccountSuspendedError. Must run inside the transaction that creates what is being paid for.
 */
export async function debit(tx: Tx, orgId: string, cents: number): Promise<void> {
  if (await debitBalance(tx, orgId, cents)) return;
  throw await debitRefusal(tx, orgId);
}

/**
 * Why a debit of the organisation was just refused: suspended, or else (balance short, or no such
 * organisation) insufficient balance. Read after the refusal, never before: only a refused debit
 * costs this second query.
 */
export async function debitRefusal(db: Db, orgId: string): Promise<AccountSuspendedError | InsufficientBalanceError> {
  return (await findOrganizationStatus(db, orgId)) === "SUSPENDED"
    ? new AccountSuspendedError()
    : new InsufficientBalanceError();
}

/** The CHARGE ledger row for a job; call in the same transaction as debit(). */
export async function recordCharge(tx: Tx, orgId: string, jobId: string, cents: number): Promise<void> {
  await insertLedgerEntry(tx, { orgId, jobId, kind: "CHARGE", amountCents: -cents });
}

/**
 * Gives back what a job was charged, at most once: the REFUND row is inserted with ON CONFLICT
 * DO NOTHING on (job_id, kind), and the balance moves only when that row was new.
 * Returns the cents refunded (0 when already refunded or never charged).
 */
export async function refundJob(tx: Tx, jobId: string): Promise<number> {
  const charge = await findJobLedgerEntry(tx, jobId, "CHARGE");
  if (!charge || charge.amountCents === 0) return 0;
  const cents = -charge.amountCents;
  const inserted = await insertLedgerEntryOnce(tx, {
    orgId: charge.orgId,
    jobId,
    kind: "REFUND",
    amountCents: cents,
    note: "render failed",
  });
  if (!inserted) return 0;
  await creditBalance(tx, charge.orgId, cents);
  return cents;
}
