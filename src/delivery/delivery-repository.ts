// Every query delivery runs: a job's delivery columns, the webhook attempts, Send-To presets and
// the organisation's webhook signing secrets. Each function takes a `Db`, so it runs alone or in
// the caller's transaction. Secrets and preset configs go in and come out as stored (encrypted);
// sealing and opening them is the callers' business (src/delivery/webhook-secrets.ts, presets.ts).
import type { Db } from "../db/client.js";
import type { Job, SendToPreset, WebhookAttempt } from "../generated/prisma/client.js";

// ---- jobs

export async function findJob(db: Db, jobId: string): Promise<Job | null> {
  return db.job.findUnique({ where: { id: jobId } });
}

/** The request id recorded with the job at accept time (for the deliver worker's logs). */
export async function findJobRequestId(db: Db, jobId: string): Promise<string | undefined> {
  const row = await db.job.findUnique({ where: { id: jobId }, select: { input: true } });
  return (row?.input as { request_id?: string } | undefined)?.request_id;
}

export async function markSendToDelivering(db: Db, jobId: string): Promise<void> {
  await db.job.update({ where: { id: jobId }, data: { sendToStatus: "delivering" } });
}

/** The send_to's final outcome: delivered with the destination's identifiers, or failed with its reason. */
export async function recordSendToOutcome(
  db: Db,
  jobId: string,
  outcome: { status: "delivered"; result: Record<string, string> } | { status: "failed"; error: string },
): Promise<Job> {
  return db.job.update({
    where: { id: jobId },
    data:
      outcome.status === "delivered"
        ? { sendToStatus: "delivered", sendToResult: outcome.result, sendToError: null }
        : { sendToStatus: "failed", sendToError: outcome.error },
  });
}

export async function setWebhookStatus(
  db: Db,
  jobId: string,
  status: "pending" | "delivered" | "failed",
): Promise<void> {
  await db.job.update({ where: { id: jobId }, data: { webhookStatus: status } });
}

// ---- webhook attempts

export async function insertWebhookAttempt(db: Db, attempt: Omit<WebhookAttempt, "createdAt">): Promise<void> {
  await db.webhookAttempt.create({ data: attempt });
}

/** A job's attempts, oldest first. */
export async function listWebhookAttemptsOfJob(db: Db, jobId: string): Promise<WebhookAttempt[]> {
  return db.webhookAttempt.findMany({ where: { jobId }, orderBy: [{ createdAt: "asc" }, { attempt: "asc" }] });
}

// ---- Send-To presets (deleted ones are kept, hidden)

export async function findLivePreset(db: Db, orgId: string, presetId: string): Promise<SendToPreset | null> {
  return db.sendToPreset.findFirst({ where: { id: presetId, orgId, deletedAt: null } });
}

/** The organisation's presets, newest first. */
export async function listLivePresets(db: Db, orgId: string): Promise<SendToPreset[]> {
  return db.sendToPreset.findMany({ where: { orgId, deletedAt: null }, orderBy: { createdAt: "desc" } });
}

/** `config` is the destination, encrypted. */
export interface PresetRow {
  name: string;
  type: string;
  config: string;
}

export async function insertPreset(db: Db, id: string, orgId: string, row: PresetRow): Promise<SendToPreset> {
  return db.sendToPreset.create({ data: { id, orgId, ...row } });
}

export async function updatePresetRow(db: Db, presetId: string, row: PresetRow): Promise<SendToPreset> {
  return db.sendToPreset.update({ where: { id: presetId }, data: row });
}

export async function softDeletePreset(db: Db, presetId: string): Promise<void> {
  await db.sendToPreset.update({ where: { id: presetId }, data: { deletedAt: new Date() } });
}

// ---- webhook signing secrets (stored sealed)

export interface StoredWebhookSecrets {
  webhookSecret: string;
  previousWebhookSecret: string | null;
  previousWebhookSecretExpiresAt: Date | null;
}

/** The organisation's stored secrets; throws when the organisation does not exist. */
export async function getWebhookSecrets(db: Db, orgId: string): Promise<StoredWebhookSecrets> {
  return db.organization.findUniqueOrThrow({
    where: { id: orgId },
    select: { webhookSecret: true, previousWebhookSecret: true, previousWebhookSecretExpiresAt: true },
  });
}

/**
 * Replaces the secrets while the current one still is `expectedCurrent` (compare-and-set).
 * Returns whether it did.
 */
export async function replaceWebhookSecrets(
  db: Db,
  orgId: string,
  expectedCurrent: string,
  next: StoredWebhookSecrets,
): Promise<boolean> {
  const { count } = await db.organization.updateMany({
    where: { id: orgId, webhookSecret: expectedCurrent },
    data: next,
  });
  return count === 1;
}

/** Organisations, in id order after `afterId`, whose current or previous secret starts with `prefix`. */
export async function findOrganizationsWithSecretPrefix(
  db: Db,
  prefix: string,
  afterId: string | undefined,
  take: number,
): Promise<({ id: string } & Pick<StoredWebhookSecrets, "webhookSecret" | "previousWebhookSecret">)[]> {
  const starts = { startsWith: prefix };
  return db.organization.findMany({
    where: {
      OR: [{ webhookSecret: starts }, { previousWebhookSecret: starts }],
      ...(afterId === undefined ? {} : { id: { gt: afterId } }),
    },
    select: { id: true, webhookSecret: true, previousWebhookSecret: true },
    orderBy: { id: "asc" },
    take,
  });
}

/** Replaces one stored secret while it still is `expected` (compare-and-set); returns whether it did. */
export async function replaceStoredSecret(
  db: Db,
  orgId: string,
  column: "webhookSecret" | "previousWebhookSecret",
  expected: string,
  replacement: string,
): Promise<boolean> {
  const { count } =
    column === "webhookSecret"
      ? await db.organization.updateMany({
          where: { id: orgId, webhookSecret: expected },
          data: { webhookSecret: replacement },
        })
      : await db.organization.updateMany({
          where: { id: orgId, previousWebhookSecret: expected },
          data: { previousWebhookSecret: replacement },
        });
  return count === 1;
}
