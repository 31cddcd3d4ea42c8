// The BullMQ "previews" queue: previews render on the render workers (the API never loads the
// renderer) from a queue of their own, so a preview never waits behind the render queue. A preview
// job carries its document and leaves nothing behind: one attempt, removed when done or failed.
// Its image never travels through BullMQ (whose events stream keeps thousands of entries): the
// worker writes the bytes to a Redis key that expires soon after the API's deadline and announces
// the key on the event bus (src/events/bus.ts); the API, subscribed before it queued the job,
// takes the bytes with GETDEL.
import { Queue, type ConnectionOptions } from "bullmq";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";

export const PREVIEW_QUEUE = "previews";

/**
 * How long a finished preview's bytes wait in Redis after the API's deadline (PREVIEW_TIMEOUT_MS)
 * for it to take them: a preview finished after its deadline is not stored at all, so bytes nobody
 * will read never fill Redis (which also holds the queues).
 */
export const PREVIEW_RESULT_GRACE_MS = 5_000;

/**
 * Output pixels a preview draws at most: the asked scale is lowered to fit. An editor needs its
 * display's pixels; a full-size image is what a (charged) render is for.
 */
const MAX_PREVIEW_PIXELS = 1_000_000;

/** The scale a preview of `doc` is drawn at: the asked one, lowered so the output fits MAX_PREVIEW_PIXELS. */
export function previewScale(doc: { width: number; height: number }, asked: number): number {
  const fit = Math.sqrt(MAX_PREVIEW_PIXELS / (doc.width * doc.height));
  return Math.max(0.1, Math.min(asked, Math.floor(fit * 1000) / 1000));
}

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

/** What the worker announces for a preview (the job id names the channel and the result key). */
export type PreviewOutcome =
  | { ok: true; width: number; height: number; contentType: string; renderMs: number }
  /**
   * The render failed (an image that cannot be fetched, a render over its budget, ...), or, with
   * `unavailable`, the worker could not do it (its database or Redis away): a 503, worth a retry.
   */
  | { ok: false; error: string; unavailable?: boolean };

/** The Redis key holding a finished preview's bytes. */
export const previewResultKey = (prefix: string, id: string) => `${prefix}:preview-result:${id}`;

export class PreviewQueue {
  private queue: Queue<PreviewPayload> | null = null;

  constructor(
    private readonly opts: { connection: ConnectionOptions; prefix: string; onError: (err: Error) => void },
  ) {}

  /** Queues one preview under `id` (opened on first use: only API processes add previews). */
  async add(id: string, payload: PreviewPayload): Promise<void> {
    this.queue ??= new Queue<PreviewPayload>(PREVIEW_QUEUE, {
      connection: this.opts.connection,
      prefix: this.opts.prefix,
    });
    // Without a listener BullMQ prints connection errors to the console: to the logger instead.
    if (this.queue.listenerCount("error") === 0) this.queue.on("error", this.opts.onError);
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
