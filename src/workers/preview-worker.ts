// The preview side of a render worker: takes previews from the BullMQ "previews" queue (its own,
// so previews never wait behind queued renders) and renders them in the render worker's stages,
// holding its fetch and CPU slots round-robin by organisation like any render: previews and
// renders are fair between organisations, and previews cannot take more than their
// organisation's turn from renders. Nothing is written to PostgreSQL or storage: the bytes go to a
// short-lived Redis key and the outcome to the API process waiting on the event bus
// (src/queue/preview-queue.ts). One attempt: a failed preview is answered, not retried.
import { Worker, type Job as BullJob } from "bullmq";
import type { AppContext } from "../context.js";
import {
  PREVIEW_QUEUE,
  PREVIEW_RESULT_GRACE_MS,
  previewResultKey,
  type PreviewPayload,
} from "../queue/preview-queue.js";
import { RenderError, type RenderResult } from "../render/index.js";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";

type RenderStaged = (
  orgId: string,
  document: TemplateDocument,
  output: { format: OutputFormat; quality: number | undefined; scale: number; timeoutMs?: number },
) => Promise<{ out: RenderResult }>;

/**
 * Previews one worker process takes from the queue at once. Each then waits for the fetch and CPU
 * slots it shares with renders, round-robin by organisation; a few are enough to keep the CPU
 * slots busy, and fewer taken means the queue, not this process, holds the rest.
 */
const PREVIEW_CONCURRENCY = 4;

/** How long after the API's deadline a preview's render is cut off. */
const DEADLINE_MARGIN_MS = 100;

export function createPreviewWorker(
  ctx: AppContext,
  renderStaged: RenderStaged,
): { close(force?: boolean): Promise<void> } {
  const log = ctx.logger.child({ component: "preview-worker" });

  async function processPreview(job: BullJob<PreviewPayload>): Promise<void> {
    const id = job.id!;
    const { orgId, document, format, quality, scale, deadline } = job.data;
    if (Date.now() >= deadline) return; // the API stopped waiting: render nothing
    const started = performance.now();
    try {
      // The render's budget ends just after the API's deadline (or at RENDER_TIMEOUT_MS, if
      // sooner): nobody waits for a preview past it, so no work goes on for nobody. (Just after:
      // the API's own answer, 503, comes first rather than this render's timeout.)
      const timeoutMs = Math.max(1, Math.min(ctx.config.RENDER_TIMEOUT_MS, deadline - Date.now() + DEADLINE_MARGIN_MS));
      const { out } = await renderStaged(orgId, document, {
        format,
        quality: quality ?? undefined,
        scale,
        timeoutMs,
      });
      const renderMs = Math.round(performance.now() - started);
      const left = deadline - Date.now();
      if (left <= 0) return; // finished after the API gave up: store nothing
      await ctx.redis.set(
        previewResultKey(ctx.config.QUEUE_PREFIX, id),
        out.buffer,
        "PX",
        left + PREVIEW_RESULT_GRACE_MS,
      );
      await ctx.events.publishPreview(id, {
        ok: true,
        width: out.width,
        height: out.height,
        contentType: out.contentType,
        renderMs,
      });
      log.debug({ previewId: id, orgId, renderMs }, "preview rendered");
    } catch (err) {
      if (Date.now() >= deadline) return; // nobody waits for the answer any more
      const known = err instanceof RenderError;
      if (!known)
        log.warn({ previewId: id, orgId, err: err instanceof Error ? err.message : String(err) }, "preview failed");
      // A render error is the document's (422); anything else is the worker's (503, retry).
      await ctx.events
        .publishPreview(
          id,
          known
            ? { ok: false, error: err.message }
            : { ok: false, error: "the render worker could not make the preview; retry shortly", unavailable: true },
        )
        .catch(() => undefined);
    }
  }

  const worker = new Worker<PreviewPayload>(PREVIEW_QUEUE, processPreview, {
    connection: { url: ctx.config.REDIS_URL, maxRetriesPerRequest: null },
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency: Math.min(PREVIEW_CONCURRENCY, ctx.config.RENDER_CONCURRENCY),
  });
  worker.on("error", (err) => log.error({ err: err.message }, "preview worker error"));
  return { close: (force = false) => worker.close(force) };
}
