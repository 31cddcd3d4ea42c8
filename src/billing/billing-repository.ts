// Every query on the money: organisations' balance and status, ledger rows, idempotency keys.
// Each function takes a `Db`, so it runs alone or inside the caller's transaction; none opens a
// transaction of its own, none decides anything — the rules live in charges.ts, idempotency.ts
// and organizations.ts, which call these.
import type { Db } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { LedgerEntry, LedgerKind, Organization, OrganizationStatus } from "../generated/prisma/client.js";
import { afterCursor, newestFirst, toPage, type Page, type PageQuery } from "../db/pagination.js";

// ---- organisations ----------------------------------------------------------------------------

export async function insertOrganization(
  db: Db,
  row: { id: string; name: string; balanceCents: number; webhookSecret: string },
): Promise<Organization> {
  return db.organization.create({ data: row });
}

export async function findOrganization(db: Db, orgId: string): Promise<Organization | null> {
  return db.organization.findUnique({ where: { id: orgId } });
}

export async function findOrganizationStatus(db: Db, orgId: string): Promise<OrganizationStatus | null> {
  const org = await db.organization.findUnique({ where: { id: orgId }, select: { status: true } });
  return org?.status ?? null;
}

/** Returns false when no such organisation exists. */
export async function updateOrganizationStatus(db: Db, orgId: string, status: OrganizationStatus): Promise<boolean> {
  const updated = await db.organization.updateMany({ where: { id: orgId }, data: { status } });
  return updated.count > 0;
}

/**
 * Takes `cents` from an ACTIVE organisation whose balance covers them, in one conditional UPDATE:
 * two concurrent debits can never both spend the last cent (the second re-reads the row after
 * the first commits). Returns false, changing nothing, when the balance is short, the
 * organisation is suspended or it does not exist.
 */
export async function debitBalance(db: Db, orgId: string, cents: number): Promise<boolean> {
  const updated = await db.$executeRaw`
    UPDATE "organizations" SET "balance_cents" = "balance_cents" - ${cents}
    WHERE "id" = ${orgId} AND "balance_cents" >= ${cents} AND "status" = 'ACTIVE'`;
  return updated === 1;
}

/** Adds `cents` to the balance. Returns false when no such organisation exists. */
export async function creditBalance(db: Db, orgId: string, cents: number): Promise<boolean> {
  const updated = await db.organization.updateMany({
    where: { id: orgId },
    data: { balanceCents: { increment: cents } },
  });
  return updated.count > 0;
}

// ---- ledger -----------------------------------------------------------------------------------

export interface NewLedgerEntry {
  orgId: string;
  kind: LedgerKind;
  /** Signed: TOPUP and REFUND positive, CHARGE negative. */
  amountCents: number;
  jobId?: string | null;
  note?: string | null;
}

/** Appends a ledger row (rows are never updated or deleted: a trigger refuses it). */
export async function insertLedgerEntry(db: Db, entry: NewLedgerEntry): Promise<LedgerEntry> {
  return db.ledgerEntry.create({ data: { id: newId("led"), ...entry } });
}

/**
 * Appends a job's ledger row unless the job already has one of that kind: ON CONFLICT DO NOTHING
 * on the unique (job_id, kind). Returns whether the row is new.
 */
export async function insertLedgerEntryOnce(db: Db, entry: NewLedgerEntry & { jobId: string }): Promise<boolean> {
  const inserted = await db.ledgerEntry.createMany({ data: [{ id: newId("led"), ...entry }], skipDuplicates: true });
  return inserted.count > 0;
}

/** The job's ledger row of that kind (at most one exists). */
export async function findJobLedgerEntry(db: Db, jobId: string, kind: LedgerKind): Promise<LedgerEntry | null> {
  return db.ledgerEntry.findUnique({ where: { jobId_kind: { jobId, kind } } });
}

/** The organisation's ledger, newest first, keyset-paginated. */
export async function listLedgerEntries(db: Db, orgId: string, page: PageQuery): Promise<Page<LedgerEntry>> {
  const rows = await db.ledgerEntry.findMany({
    where: { orgId, ...afterCursor(page.cursor) },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

// ---- idempotency keys -------------------------------------------------------------------------

/** Removes the organisation's key when it is older than the window, so it can be claimed anew. */
export async function deleteExpiredIdempotencyKey(
  db: Db,
  orgId: string,
  key: string,
  windowHours: number,
): Promise<void> {
  await db.$executeRaw`
    DELETE FROM "idempotency_keys"
    WHERE "org_id" = ${orgId} AND "key" = ${key}
      AND "created_at" < now() - make_interval(hours => ${windowHours})`;
}

/**
 * Inserts the key unless the organisation already has it (ON CONFLICT DO NOTHING; a concurrent
 * insert of the same key waits for the other transaction). Returns whether the row is new.
 */
export async function insertIdempotencyKey(db: Db, orgId: string, key: string, fingerprint: string): Promise<boolean> {
  const inserted = await db.$executeRaw`
    INSERT INTO "idempotency_keys" ("org_id", "key", "fingerprint") VALUES (${orgId}, ${key}, ${fingerprint})
    ON CONFLICT ("org_id", "key") DO NOTHING`;
  return inserted === 1;
}

export interface IdempotencyKeyRow {
  fingerprint: string;
  jobId: string | null;
}

/** The organisation's key row, whatever its age. Throws when it does not exist. */
export async function getIdempotencyKey(db: Db, orgId: string, key: string): Promise<IdempotencyKeyRow> {
  const row = await db.idempotencyKey.findUniqueOrThrow({ where: { orgId_key: { orgId, key } } });
  return { fingerprint: row.fingerprint, jobId: row.jobId };
}

/** The organisation's key row when it was created within the window, else null. */
export async function findLiveIdempotencyKey(
  db: Db,
  orgId: string,
  key: string,
  windowHours: number,
): Promise<IdempotencyKeyRow | null> {
  const rows = await db.$queryRaw<{ fingerprint: string; job_id: string | null }[]>`
    SELECT "fingerprint", "job_id" FROM "idempotency_keys"
    WHERE "org_id" = ${orgId} AND "key" = ${key}
      AND "created_at" >= now() - make_interval(hours => ${windowHours})`;
  const row = rows[0];
  return row ? { fingerprint: row.fingerprint, jobId: row.job_id } : null;
}

export async function setIdempotencyKeyJob(db: Db, orgId: string, key: string, jobId: string): Promise<void> {
  await db.idempotencyKey.update({ where: { orgId_key: { orgId, key } }, data: { jobId } });
}
