// The BullMQ "previews" queue: previews render on the render workers (the API never loads the
// renderer) from a queue of their own, so a preview never waits behind the render queue. A preview
// job carries its document and leaves nothing behind: one attempt, removed when done or failed.
// Its image never travels through BullMQ (whose events stream keeps thousands of entries): the
// worker writes the bytes to a Redis key that expires after PREVIEW_RESULT_TTL_MS and announces
// the key on the event bus (src/events/bus.ts); the API, subscribed before it queued the job,
// takes the bytes with GETDEL.
import { Queue, type ConnectionOptions } from "bullmq";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";

export const PREVIEW_QUEUE = "previews";

/** How long a finished preview's bytes wait in Redis for the API to take them. */
export const PREVIEW_RESULT_TTL_MS = 30_000;

export interface PreviewPayload {
  /** Whose preview: CPU and fetch slots are shared round-robin by organisation, with renders. */
  orgId: string;
  /** Modifications applied, background removals turned off. */
  document: TemplateDocument;
  format: OutputFormat;
  quality: number | null;
  scale: number;
  /** Epoch ms after which nobody waits for the answer: the worker drops the preview unrendered. */
  deadline: number;
}

/** What the worker announces for a preview (the job id names the channel). */
export type PreviewOutcome =
  | { ok: true; key: string; width: number; height: number; contentType: string; renderMs: number }
  /** The render failed (an image that cannot be fetched, a render over its budget, ...). */
  | { ok: false; error: string };

/** The Redis key holding a finished preview's bytes. */
export const previewResultKey = (prefix: string, id: string) => `${prefix}:preview-result:${id}`;

export class PreviewQueue {
  private queue: Queue<PreviewPayload> | null = null;

  constructor(private readonly opts: { connection: ConnectionOptions; prefix: string }) {}

  /** Queues one preview under `id` (opened on first use: only API processes add previews). */
  async add(id: string, payload: PreviewPayload): Promise<void> {
    this.queue ??= new Queue<PreviewPayload>(PREVIEW_QUEUE, {
      connection: this.opts.connection,
      prefix: this.opts.prefix,
    });
    await this.queue.add("preview", payload, {
      jobId: id,
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  /** Removes a preview nobody waits for any more, if no worker took it yet. */
  async drop(id: string): Promise<void> {
    await this.queue?.remove(id).catch(() => 0);
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.queue = null;
  }
}
