// The deliver worker: sends finished renders to their send_to destination and posts webhook
// events, on its own BullMQ queue so a slow or dead destination never holds up rendering.
// Webhook retries follow WEBHOOK_RETRY_SCHEDULE (a Retry-After from the receiver wins when
// longer); send_to retries back off exponentially. Every outcome is recorded by the domain.
import { DelayedError, Worker, type Job as BullJob } from "bullmq";
import { isDatabaseUnavailable } from "../db/availability.js";
import { deliveryAttempts } from "../observability/metrics.js";
import type { AppContext } from "../context.js";
import { deliverSendTo, deliverWebhook, RetryableDeliveryError } from "../delivery/deliver.js";
import { findJobRequestId } from "../delivery/delivery-repository.js";
import { announce, viewOf } from "../jobs/service.js";
import { DELIVER_QUEUE, type DeliverPayload } from "../queue/deliver-queue.js";

export interface DeliverWorker {
  close(force?: boolean): Promise<void>;
}

export function createDeliverWorker(ctx: AppContext): DeliverWorker {
  const log = ctx.logger.child({ component: "deliver-worker" });
  async function process(bullJob: BullJob<DeliverPayload>, token?: string): Promise<void> {
    const attempt = { number: bullJob.attemptsMade + 1, max: bullJob.opts.attempts ?? 1 };
    try {
      if (bullJob.data.kind === "send_to")
        await deliverSendTo(ctx, bullJob.data.jobId, attempt, (job) => announce(ctx, job));
      else await deliverWebhook(ctx, bullJob.data.jobId, attempt, (job) => viewOf(ctx, job));
      deliveryAttempts.inc({ kind: bullJob.data.kind, outcome: "done" });
      log.info(
        {
          jobId: bullJob.data.jobId,
          requestId: await findJobRequestId(ctx.prisma, bullJob.data.jobId),
          kind: bullJob.data.kind,
          attempt: attempt.number,
        },
        "delivery processed",
      );
    } catch (err) {
      deliveryAttempts.inc({
        kind: bullJob.data.kind,
        outcome: err instanceof RetryableDeliveryError ? "retry" : "error",
      });
      if (isDatabaseUnavailable(err) && token) {
        // Not the destination's fault: wait for the database without spending an attempt.
        await bullJob.moveToDelayed(Date.now() + 2_000, token);
        throw new DelayedError();
      }
      log.warn(
        { jobId: bullJob.data.jobId, kind: bullJob.data.kind, attempt: attempt.number, err: (err as Error).message },
        "delivery attempt failed",
      );
      throw err;
    }
  }

  const worker = new Worker<DeliverPayload>(DELIVER_QUEUE, process, {
    connection: { url: ctx.config.REDIS_URL, maxRetriesPerRequest: null },
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency: 16, // waiting on the network, not the CPU
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string, err?: Error) => {
        const scheduled =
          type === "webhook-schedule"
            ? (ctx.webhookSchedule[attemptsMade] ?? ctx.webhookSchedule.at(-1) ?? 0)
            : 2_000 * 2 ** (attemptsMade - 1);
        const retryAfter = err instanceof RetryableDeliveryError ? (err.retryAfterMs ?? 0) : 0;
        return Math.max(scheduled, retryAfter);
      },
    },
  });
  worker.on("error", (err) => log.error({ err: err.message }, "deliver worker error"));
  return { close: (force = false) => worker.close(force) };
}
