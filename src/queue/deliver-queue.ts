// The BullMQ "deliver" queue, separate from rendering so a slow or dead destination never
// occupies a render worker. Two kinds of work: "send_to" (the image to its destination) and
// "webhook" (the final event to the client's URL, on the webhook retry schedule).
import { Queue, type ConnectionOptions } from "bullmq";

export const DELIVER_QUEUE = "deliver";

export type DeliverPayload = { kind: "send_to"; jobId: string } | { kind: "webhook"; jobId: string };

export class DeliverQueue {
  readonly queue: Queue<DeliverPayload>;

  constructor(
    private readonly opts: {
      connection: ConnectionOptions;
      prefix: string;
      sendToAttempts: number;
      webhookSchedule: number[];
    },
  ) {
    this.queue = new Queue<DeliverPayload>(DELIVER_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  }

  /** Idempotent per job: the send_to of one job is queued once. */
  async enqueueSendTo(jobId: string): Promise<void> {
    await this.queue.add(
      "send_to",
      { kind: "send_to", jobId },
      {
        jobId: `send_to-${jobId}`,
        attempts: this.opts.sendToAttempts,
        backoff: { type: "exponential", delay: 2_000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  /** `round` distinguishes a redelivery from the first delivery of the same event. */
  async enqueueWebhook(jobId: string, round = 0): Promise<void> {
    await this.queue.add(
      "webhook",
      { kind: "webhook", jobId },
      {
        jobId: `webhook-${jobId}-${round}`,
        attempts: this.opts.webhookSchedule.length,
        // The delays come from the schedule (and Retry-After): see src/workers/deliver-worker.ts.
        backoff: { type: "webhook-schedule" },
        delay: this.opts.webhookSchedule[0] ?? 0,
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
