// A job's deliveries from request to queue. What a request asked for (webhook_url, send_to) is
// checked and recorded when the job is accepted (the send_to encrypted: it may hold credentials),
// and queued on the deliver queue once the job is final. Delivery never changes a render's own
// status: a failed destination leaves a complete render complete, with send_to_status "failed".
import type { Logger } from "pino";
import type { Db } from "../db/client.js";
import { ValidationError } from "../errors.js";
import type { Job } from "../generated/prisma/client.js";
import type { DeliverQueue } from "../queue/deliver-queue.js";
import { encryptSecret } from "./crypto.js";
import { findLivePreset } from "./delivery-repository.js";
import type { SendTo } from "../views/send-to.js";

/** Checks a request's send_to (a preset must be the organisation's) and encrypts it for storage. */
export async function prepareSendTo(
  deps: { prisma: Db; secretsKey: Buffer },
  orgId: string,
  dest: SendTo,
): Promise<string> {
  if (dest.type === "preset" && !(await findLivePreset(deps.prisma, orgId, dest.preset_id))) {
    throw new ValidationError(`send-to preset ${dest.preset_id} not found`, ["send_to", "preset_id"]);
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

/**
 * Queues what a final job still owes: its send_to first (when the render is complete), else its
 * webhook. Called after the commit that made the job final; if Redis refuses, the reconciler
 * finds the job by its pending delivery status.
 */
export async function queueDeliveries(deps: { deliverQueue: DeliverQueue; logger: Logger }, job: Job): Promise<void> {
  try {
    if (job.status === "complete" && job.sendToStatus === "pending") await deps.deliverQueue.enqueueSendTo(job.id);
    else if (job.webhookUrl && job.webhookStatus === "pending") await deps.deliverQueue.enqueueWebhook(job.id);
  } catch (err) {
    deps.logger.warn({ err, jobId: job.id }, "deliver queue unavailable; the reconciler will queue the delivery");
  }
}
