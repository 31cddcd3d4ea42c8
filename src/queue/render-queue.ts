// The BullMQ render queue. The BullMQ job id is our job id, so enqueueing is idempotent: the
// accept path, the reconciler and a retried request can all add the same job safely.
import { Queue, type ConnectionOptions } from "bullmq";

export const RENDER_QUEUE = "render";

export interface RenderPayload {
  jobId: string;
}

export interface RenderQueueOptions {
  connection: ConnectionOptions;
  prefix: string;
  attempts: number;
}

export class RenderQueue {
  readonly queue: Queue<RenderPayload>;

  constructor(private readonly opts: RenderQueueOptions) {
    this.queue = new Queue<RenderPayload>(RENDER_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  }

  async enqueue(jobId: string): Promise<void> {
    await this.queue.add(
      "render",
      { jobId },
      {
        jobId,
        attempts: this.opts.attempts,
        backoff: { type: "exponential", delay: 1_000 },
        // Postgres is the record; Redis keeps only enough history to debug and dedupe.
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600 },
      },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
