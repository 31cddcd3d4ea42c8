// What the deliver worker (src/workers/deliver-worker.ts) does with one entry of the deliver queue:
// send a complete job's image to its send_to, or post a final job's webhook event, and record
// the outcome. A failure that may pass throws RetryableDeliveryError while attempts remain, so
// BullMQ tries again later; anything else is recorded as failed for good.
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Prisma } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Job } from "../generated/prisma/client.js";
import type { DeliverQueue } from "../queue/deliver-queue.js";
import { outputExpiredMessage } from "../storage/retention.js";
import type { Storage } from "../storage/storage.js";
import { decryptSecret } from "./crypto.js";
import {
  findJob,
  insertWebhookAttempt,
  markSendToDelivering,
  recordSendToOutcome,
  setWebhookStatus,
} from "./delivery-repository.js";
import { SendTo, type DirectSendTo } from "../views/send-to.js";
import { isDestinationError, isDirectSendTo, sendFile } from "./destinations/index.js";
import { webhookMessageId } from "./destinations/webhook.js";
import { presetDestination } from "./presets.js";
import { postWebhookEvent, webhookEventType } from "./webhook-events.js";
import { signingSecrets } from "./webhook-secrets.js";

export interface DeliveryDeps {
  prisma: Prisma;
  storage: Storage;
  logger: Logger;
  deliverQueue: DeliverQueue;
  secretsKey: Buffer;
  config: Pick<
    Config,
    "ALLOW_PRIVATE_NETWORKS" | "DELIVERY_TIMEOUT_MS" | "DROPBOX_CONTENT_URL" | "OUTPUT_RETENTION_DAYS"
  >;
}

/** This attempt of one queue entry, and how many BullMQ allows. */
export interface Attempt {
  number: number;
  max: number;
}

export class RetryableDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** The output is gone (retention); final, never retried. */
class OutputExpiredError extends Error {}

/**
 * The output's bytes. A missing object is the retention sweep having deleted it meanwhile (the
 * sweep deletes before it marks the row): said as such, not as a file-system error.
 */
async function readOutput(deps: DeliveryDeps, key: string): Promise<Buffer> {
  try {
    return await deps.storage.read(key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new OutputExpiredError(
        `${outputExpiredMessage(deps.config.OUTPUT_RETENTION_DAYS)} (or otherwise missing from storage)`,
      );
    throw err;
  }
}

/** The job's send_to as stored (encrypted), a preset resolved to what it holds now. */
async function destinationOf(deps: DeliveryDeps, job: Job): Promise<DirectSendTo> {
  const dest = SendTo.parse(JSON.parse(decryptSecret(job.sendTo!, deps.secretsKey)));
  return isDirectSendTo(dest) ? dest : presetDestination(deps, job.orgId, dest.preset_id);
}

/**
 * Sends a complete job's image to its destination. Throws RetryableDeliveryError while attempts
 * remain and the failure may pass; otherwise records delivered or failed. Then queues the webhook.
 */
export async function deliverSendTo(
  deps: DeliveryDeps,
  jobId: string,
  attempt: Attempt,
  announce: (job: Job) => Promise<void>,
): Promise<void> {
  const job = await findJob(deps.prisma, jobId);
  if (
    !job ||
    job.status !== "complete" ||
    !job.outputKey ||
    !job.sendTo ||
    !["pending", "delivering"].includes(job.sendToStatus ?? "")
  )
    return;
  if (job.sendToStatus === "pending") {
    await markSendToDelivering(deps.prisma, jobId);
    await announce({ ...job, sendToStatus: "delivering" });
  }
  let outcome: { status: "delivered"; result: Record<string, string> } | { status: "failed"; error: string };
  try {
    // Retention deleted the output (a send_to owed for longer than OUTPUT_RETENTION_DAYS, or sent
    // again after): nothing to send, and the failure says why instead of a storage error.
    if (job.outputDeletedAt) throw new OutputExpiredError(outputExpiredMessage(deps.config.OUTPUT_RETENTION_DAYS));
    const dest = await destinationOf(deps, job);
    const bytes = await readOutput(deps, job.outputKey);
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
    if (isDestinationError(err) && err.retryable && attempt.number < attempt.max)
      throw new RetryableDeliveryError(message, err.retryAfterMs ?? null);
    outcome = { status: "failed", error: message.slice(0, 2000) };
  }
  const updated = await recordSendToOutcome(deps.prisma, jobId, outcome);
  await announce(updated);
  if (updated.webhookUrl && updated.webhookStatus === "pending") await deps.deliverQueue.enqueueWebhook(jobId);
}

/**
 * Posts the job's final event to its webhook_url, records the attempt, and decides: delivered,
 * retry (RetryableDeliveryError, honouring Retry-After), or failed for good (410, 4xx, last attempt).
 */
export async function deliverWebhook(
  deps: DeliveryDeps,
  jobId: string,
  attempt: Attempt,
  view: (job: Job) => Promise<object>,
): Promise<void> {
  const job = await findJob(deps.prisma, jobId);
  if (!job?.webhookUrl || (job.status !== "complete" && job.status !== "failed")) return;
  const type = webhookEventType(job);
  const msgId = webhookMessageId(job.id);
  const outcome = await postWebhookEvent(
    job.webhookUrl,
    { type, ...(await view(job)) },
    {
      msgId,
      signingSecrets: await signingSecrets(deps, job.orgId),
      allowPrivateNetworks: deps.config.ALLOW_PRIVATE_NETWORKS,
      timeoutMs: deps.config.DELIVERY_TIMEOUT_MS,
    },
  );
  await insertWebhookAttempt(deps.prisma, {
    id: newId("wha"),
    jobId,
    eventId: msgId,
    eventType: type,
    url: job.webhookUrl,
    attempt: attempt.number,
    statusCode: outcome.statusCode,
    durationMs: Math.round(outcome.durationMs),
    error: outcome.error,
  });
  if (outcome.ok) {
    await setWebhookStatus(deps.prisma, jobId, "delivered");
    return;
  }
  if (outcome.retryable && !outcome.gone && attempt.number < attempt.max) {
    throw new RetryableDeliveryError(`webhook: ${outcome.error ?? `HTTP ${outcome.statusCode}`}`, outcome.retryAfterMs);
  }
  await setWebhookStatus(deps.prisma, jobId, "failed");
}
