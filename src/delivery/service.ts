// Delivery, the domain side: what a job asked for (webhook_url, send_to) is recorded at accept
// time, queued once the job is final, sent by the deliver worker, and every attempt recorded.
// Delivery never changes a render's own status: a failed destination leaves a complete render
// complete, with send_to_status "failed" and its reason.
import type { RateLimits } from "../auth/rate-limiter.js";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Prisma } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { EventBus } from "../events/bus.js";
import type { Job } from "../generated/prisma/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { DeliverQueue } from "../queue/deliver-queue.js";
import type { Storage } from "../storage/storage.js";
import { decryptSecret, encryptSecret, maskSecret } from "./crypto.js";
import { DirectSendTo, isDestinationError, isDirectSendTo, postWebhookEvent, SendTo, sendFile, webhookMessageId } from "./destinations.js";
import { generateWebhookSecret } from "./signing.js";
import { openWebhookSecret, sealWebhookSecret } from "./webhook-secrets.js";

export interface DeliveryDeps {
  prisma: Prisma;
  storage: Storage;
  events: EventBus;
  logger: Logger;
  deliverQueue: DeliverQueue;
  secretsKey: Buffer;
  config: Pick<Config, "ALLOW_PRIVATE_NETWORKS" | "DELIVERY_TIMEOUT_MS" | "DROPBOX_CONTENT_URL">;
}

// ---------------------------------------------------------------- accept time

/** Checks a request's send_to (a preset must be the organisation's) and encrypts it for storage. */
export async function prepareSendTo(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, orgId: string, dest: SendTo): Promise<string> {
  if (dest.type === "preset") {
    const preset = await deps.prisma.sendToPreset.findFirst({ where: { id: dest.preset_id, orgId, deletedAt: null } });
    if (!preset) throw new ValidationError(`send-to preset ${dest.preset_id} not found`, ["send_to", "preset_id"]);
  }
  return encryptSecret(JSON.stringify(dest), deps.secretsKey);
}

/** Columns a job gets for its webhook_url and send_to. */
export const deliveryColumns = (webhookUrl: string | undefined, sendTo: string | undefined) => ({
  webhookUrl: webhookUrl ?? null,
  webhookStatus: webhookUrl ? "pending" : null,
  sendTo: sendTo ?? null,
  sendToStatus: sendTo ? "pending" : null,
});

// ---------------------------------------------------------------- after a job is final

/**
 * Queues what a final job still owes: its send_to first (when the render is complete), else its
 * webhook. Called after the commit that made the job final; if Redis refuses, the reconciler
 * finds the job by its pending delivery status.
 */
export async function queueDeliveries(deps: Pick<DeliveryDeps, "deliverQueue" | "logger">, job: Job): Promise<void> {
  try {
    if (job.status === "complete" && job.sendToStatus === "pending") await deps.deliverQueue.enqueueSendTo(job.id);
    else if (job.webhookUrl && job.webhookStatus === "pending") await deps.deliverQueue.enqueueWebhook(job.id);
  } catch (err) {
    deps.logger.warn({ err, jobId: job.id }, "deliver queue unavailable; the reconciler will queue the delivery");
  }
}

// ---------------------------------------------------------------- the deliver worker

export class RetryableDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

async function resolveDestination(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, job: Job): Promise<DirectSendTo> {
  const dest = SendTo.parse(JSON.parse(decryptSecret(job.sendTo!, deps.secretsKey)));
  if (isDirectSendTo(dest)) return dest;
  const preset = await deps.prisma.sendToPreset.findFirst({ where: { id: dest.preset_id, orgId: job.orgId, deletedAt: null } });
  if (!preset) throw new Error(`send-to preset ${dest.preset_id} no longer exists`);
  return DirectSendTo.parse(JSON.parse(decryptSecret(preset.config, deps.secretsKey)));
}

/**
 * Sends a complete job's image to its destination. Throws RetryableDeliveryError while attempts
 * remain and the failure may pass; otherwise records delivered or failed. Then queues the webhook.
 */
export async function deliverSendTo(
  deps: DeliveryDeps,
  jobId: string,
  attempt: { number: number; max: number },
  announce: (job: Job) => Promise<void>,
): Promise<void> {
  const job = await deps.prisma.job.findUnique({ where: { id: jobId } });
  if (!job || job.status !== "complete" || !job.outputKey || !job.sendTo || !["pending", "delivering"].includes(job.sendToStatus ?? "")) return;
  if (job.sendToStatus === "pending") {
    await deps.prisma.job.update({ where: { id: jobId }, data: { sendToStatus: "delivering" } });
    await announce({ ...job, sendToStatus: "delivering" });
  }
  let outcome: { status: "delivered"; result: Record<string, string> } | { status: "failed"; error: string };
  try {
    const dest = await resolveDestination(deps, job);
    const bytes = await deps.storage.read(job.outputKey);
    const format = job.format === "jpeg" ? "jpeg" : job.format;
    const { identifiers } = await sendFile(
      dest,
      {
        bytes,
        contentType: `image/${format}`,
        filename: `${job.id}.${format === "jpeg" ? "jpg" : format}`,
        jobId: job.id,
        metadata: { job_id: job.id, template_id: job.templateId, created_at: job.createdAt.toISOString() },
      },
      {
        dropboxContentUrl: deps.config.DROPBOX_CONTENT_URL,
        signingSecrets: await signingSecrets(deps, job.orgId),
        allowPrivateNetworks: deps.config.ALLOW_PRIVATE_NETWORKS,
        timeoutMs: deps.config.DELIVERY_TIMEOUT_MS,
      },
    );
    outcome = { status: "delivered", result: identifiers };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (isDestinationError(err) && err.retryable && attempt.number < attempt.max) throw new RetryableDeliveryError(message, err.retryAfterMs ?? null);
    outcome = { status: "failed", error: message };
  }
  const updated = await deps.prisma.job.update({
    where: { id: jobId },
    data:
      outcome.status === "delivered"
        ? { sendToStatus: "delivered", sendToResult: outcome.result, sendToError: null }
        : { sendToStatus: "failed", sendToError: outcome.error.slice(0, 2000) },
  });
  await announce(updated);
  if (updated.webhookUrl && updated.webhookStatus === "pending") await deps.deliverQueue.enqueueWebhook(jobId);
}

/** The body of a webhook event: the poll body plus its type. */
export function webhookEventType(job: Job): string {
  const subject = job.kind === "group" ? "design_group" : "render";
  return `${subject}.${job.status === "complete" ? "completed" : "failed"}`;
}

/**
 * Posts the job's final event to its webhook_url, records the attempt, and decides: delivered,
 * retry (RetryableDeliveryError, honouring Retry-After), or failed for good (410, 4xx, last attempt).
 */
export async function deliverWebhook(
  deps: DeliveryDeps,
  jobId: string,
  attempt: { number: number; max: number },
  view: (job: Job) => Promise<object>,
): Promise<void> {
  const job = await deps.prisma.job.findUnique({ where: { id: jobId } });
  if (!job?.webhookUrl || (job.status !== "complete" && job.status !== "failed")) return;
  const type = webhookEventType(job);
  const msgId = webhookMessageId(job.id);
  const outcome = await postWebhookEvent(job.webhookUrl, { type, ...(await view(job)) }, {
    msgId,
    signingSecrets: await signingSecrets(deps, job.orgId),
    allowPrivateNetworks: deps.config.ALLOW_PRIVATE_NETWORKS,
    timeoutMs: deps.config.DELIVERY_TIMEOUT_MS,
  });
  await deps.prisma.webhookAttempt.create({
    data: {
      id: newId("wha"),
      jobId,
      eventId: msgId,
      eventType: type,
      url: job.webhookUrl,
      attempt: attempt.number,
      statusCode: outcome.statusCode,
      durationMs: Math.round(outcome.durationMs),
      error: outcome.error,
    },
  });
  if (outcome.ok) {
    await deps.prisma.job.update({ where: { id: jobId }, data: { webhookStatus: "delivered" } });
    return;
  }
  if (outcome.retryable && !outcome.gone && attempt.number < attempt.max) {
    throw new RetryableDeliveryError(`webhook: ${outcome.error ?? `HTTP ${outcome.statusCode}`}`, outcome.retryAfterMs);
  }
  await deps.prisma.job.update({ where: { id: jobId }, data: { webhookStatus: "failed" } });
}

// ---------------------------------------------------------------- webhook secrets
// Stored encrypted (src/delivery/webhook-secrets.ts): every read opens, every write seals.

type SecretDeps = Pick<DeliveryDeps, "prisma" | "secretsKey">;

const previousActive = (org: { previousWebhookSecret: string | null; previousWebhookSecretExpiresAt: Date | null }, now = new Date()) =>
  org.previousWebhookSecret !== null && org.previousWebhookSecretExpiresAt !== null && org.previousWebhookSecretExpiresAt > now;

/** The secrets that sign now: the current one, and the previous one during its 24 hours. */
export async function signingSecrets(deps: SecretDeps, orgId: string): Promise<string[]> {
  const org = await deps.prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
  const current = openWebhookSecret(org.webhookSecret, deps.secretsKey);
  return previousActive(org) ? [current, openWebhookSecret(org.previousWebhookSecret!, deps.secretsKey)] : [current];
}

export interface WebhookSecretView {
  webhook_secret: string;
  previous_secret_expires_at: string | null;
}

export async function webhookSecretView(deps: SecretDeps, orgId: string): Promise<WebhookSecretView> {
  const org = await deps.prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
  return {
    webhook_secret: openWebhookSecret(org.webhookSecret, deps.secretsKey),
    previous_secret_expires_at: previousActive(org) ? org.previousWebhookSecretExpiresAt!.toISOString() : null,
  };
}

export const SECRET_OVERLAP_MS = 24 * 3600 * 1000;

/**
 * A new secret; the old one keeps signing alongside for 24 hours. Compare-and-set on the stored
 * current secret, so two rotations at once (or one racing the start-up encryption of a legacy
 * value) never lose a secret that was already shown.
 */
export async function rotateWebhookSecret(deps: SecretDeps, orgId: string): Promise<WebhookSecretView> {
  for (let attempt = 1; ; attempt++) {
    const org = await deps.prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
    const secret = generateWebhookSecret();
    const expiresAt = new Date(Date.now() + SECRET_OVERLAP_MS);
    const { count } = await deps.prisma.organization.updateMany({
      where: { id: orgId, webhookSecret: org.webhookSecret },
      data: {
        webhookSecret: sealWebhookSecret(secret, deps.secretsKey),
        // Re-sealed, not copied: a legacy plaintext value is encrypted on its way here.
        previousWebhookSecret: sealWebhookSecret(openWebhookSecret(org.webhookSecret, deps.secretsKey), deps.secretsKey),
        previousWebhookSecretExpiresAt: expiresAt,
      },
    });
    if (count === 1) return { webhook_secret: secret, previous_secret_expires_at: expiresAt.toISOString() };
    if (attempt >= 5) throw new Error("the webhook secret is being changed concurrently; try again");
  }
}

// ---------------------------------------------------------------- attempts and redelivery

export interface WebhookAttemptView {
  event_id: string;
  type: string;
  url: string;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  created_at: string;
}

export async function listWebhookAttempts(prisma: Prisma, orgId: string, jobId: string): Promise<WebhookAttemptView[]> {
  const job = await prisma.job.findUnique({ where: { id: jobId } });
  if (!job || job.orgId !== orgId) throw new NotFoundError("job not found");
  const rows = await prisma.webhookAttempt.findMany({ where: { jobId }, orderBy: [{ createdAt: "asc" }, { attempt: "asc" }] });
  return rows.map((r) => ({
    event_id: r.eventId,
    type: r.eventType,
    url: r.url,
    attempt: r.attempt,
    status_code: r.statusCode,
    duration_ms: r.durationMs,
    error: r.error,
    created_at: r.createdAt.toISOString(),
  }));
}

/** Sends the job's final event again (same webhook-id), on a fresh retry schedule. */
// Limited per organisation (REDELIVER_MAX_PER_HOUR): each redelivery is a full retry schedule of
// outbound requests, so an unlimited one would turn us into a request amplifier.
export async function redeliverWebhook(deps: Pick<DeliveryDeps, "prisma" | "deliverQueue"> & { limits: RateLimits }, orgId: string, jobId: string): Promise<void> {
  const job = await deps.prisma.job.findUnique({ where: { id: jobId } });
  if (!job || job.orgId !== orgId) throw new NotFoundError("job not found");
  if (!job.webhookUrl) throw new ValidationError("this job has no webhook_url", ["webhook_url"]);
  if (job.status !== "complete" && job.status !== "failed") throw new ValidationError(`the job is ${job.status}: its event is sent once it is final`, ["status"]);
  await deps.limits.redeliveries.enforce(`org:${orgId}`);
  await deps.prisma.job.update({ where: { id: jobId }, data: { webhookStatus: "pending" } });
  await deps.deliverQueue.enqueueWebhook(jobId, Date.now());
}

// ---------------------------------------------------------------- Send-To presets

export interface PresetView {
  preset_id: string;
  name: string;
  type: DirectSendTo["type"];
  /** The destination with its credentials masked. */
  destination: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

const CREDENTIAL_FIELDS = new Set(["access_token", "api_key"]);

function presetView(p: { id: string; name: string; type: string; config: string; createdAt: Date; updatedAt: Date }, key: Buffer): PresetView {
  const dest = JSON.parse(decryptSecret(p.config, key)) as Record<string, unknown>;
  const masked = Object.fromEntries(Object.entries(dest).map(([k, v]) => [k, CREDENTIAL_FIELDS.has(k) && typeof v === "string" ? maskSecret(v) : v]));
  return { preset_id: p.id, name: p.name, type: p.type as DirectSendTo["type"], destination: masked, created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString() };
}

export async function createPreset(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, orgId: string, input: { name: string; destination: DirectSendTo }): Promise<PresetView> {
  const row = await deps.prisma.sendToPreset.create({
    data: { id: newId("stp"), orgId, name: input.name, type: input.destination.type, config: encryptSecret(JSON.stringify(input.destination), deps.secretsKey) },
  });
  return presetView(row, deps.secretsKey);
}

async function findPreset(prisma: Prisma, orgId: string, id: string) {
  const row = await prisma.sendToPreset.findFirst({ where: { id, orgId, deletedAt: null } });
  if (!row) throw new NotFoundError("send-to preset not found");
  return row;
}

export async function getPreset(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, orgId: string, id: string): Promise<PresetView> {
  return presetView(await findPreset(deps.prisma, orgId, id), deps.secretsKey);
}

export async function listPresets(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, orgId: string): Promise<PresetView[]> {
  const rows = await deps.prisma.sendToPreset.findMany({ where: { orgId, deletedAt: null }, orderBy: { createdAt: "desc" } });
  return rows.map((r) => presetView(r, deps.secretsKey));
}

export async function updatePreset(deps: Pick<DeliveryDeps, "prisma" | "secretsKey">, orgId: string, id: string, input: { name: string; destination: DirectSendTo }): Promise<PresetView> {
  await findPreset(deps.prisma, orgId, id);
  const row = await deps.prisma.sendToPreset.update({
    where: { id },
    data: { name: input.name, type: input.destination.type, config: encryptSecret(JSON.stringify(input.destination), deps.secretsKey) },
  });
  return presetView(row, deps.secretsKey);
}

export async function deletePreset(prisma: Prisma, orgId: string, id: string): Promise<void> {
  await findPreset(prisma, orgId, id);
  await prisma.sendToPreset.update({ where: { id }, data: { deletedAt: new Date() } });
}
