// Every database read and write of signed URLs: the organisation's URL signing secrets (stored
// sealed, src/signed-urls/secrets.ts) and the signed_renders rows that say which job a signed
// content produced.
import type { Db } from "../db/client.js";

export interface StoredUrlSigningSecrets {
  urlSigningSecret: string | null;
  previousUrlSigningSecret: string | null;
  previousUrlSigningSecretExpiresAt: Date | null;
}

/** The organisation's stored secrets; null when there is no such organisation. */
export async function findUrlSigningSecrets(db: Db, orgId: string): Promise<StoredUrlSigningSecrets | null> {
  return db.organization.findUnique({
    where: { id: orgId },
    select: { urlSigningSecret: true, previousUrlSigningSecret: true, previousUrlSigningSecretExpiresAt: true },
  });
}

/**
 * Replaces the secrets while the current one still is `expectedCurrent` (null: none yet) —
 * compare-and-set, so concurrent rotations or first uses never lose a secret already shown.
 */
export async function replaceUrlSigningSecrets(
  db: Db,
  orgId: string,
  expectedCurrent: string | null,
  next: StoredUrlSigningSecrets,
): Promise<boolean> {
  const { count } = await db.organization.updateMany({
    where: { id: orgId, urlSigningSecret: expectedCurrent },
    data: next,
  });
  return count === 1;
}

/** The job the signed content produced, or null before its first GET. */
export async function findSignedRenderJobId(db: Db, orgId: string, digest: string): Promise<string | null> {
  const row = await db.signedRender.findUnique({
    where: { orgId_digest: { orgId, digest } },
    select: { jobId: true },
  });
  return row?.jobId ?? null;
}

/** Records (or, after a failed render, replaces) the job the signed content produced. */
export async function recordSignedRender(db: Db, orgId: string, digest: string, jobId: string): Promise<void> {
  await db.signedRender.upsert({
    where: { orgId_digest: { orgId, digest } },
    create: { orgId, digest, jobId },
    update: { jobId },
  });
}
