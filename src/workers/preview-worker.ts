// The preview side of a render worker: takes previews from the BullMQ "previews" queue (its own,
// so previews never wait behind queued renders) and renders them in the render worker's stages,
// holding its fetch and CPU slots round-robin by organisation like any render: previews and
// renders are fair between organisations, and previews cannot take more than their
// organisation's turn from renders. Nothing is written to PostgreSQL or storage: the bytes go to a
// short-lived Redis key and the outcome to the API process waiting on the event bus
// (src/queue/preview-queue.ts). One attempt: a failed preview is answered, not retried.
import { Worker, type Job as BullJob } from "bullmq";
import type { AppContext } from "../context.js";
import { PREVIEW_QUEUE, PREVIEW_RESULT_TTL_MS, previewResultKey, type PreviewPayload } from "../queue/preview-queue.js";
import { RenderError, type RenderResult } from "../render/index.js";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";

type RenderStaged = (
  orgId: string,
  document: TemplateDocument,
  output: { format: OutputFormat; quality: number | undefined; scale: number },
) => Promise<{ out: RenderResult }>;

export function createPreviewWorker(
  ctx: AppContext,
  renderStaged: RenderStaged,
): { close(force?: boolean): Promise<void> } {
  const log = ctx.logger.child({ component: "preview-worker" });

  async function processPreview(job: BullJob<PreviewPayload>): Promise<void> {
    const id = job.id!;
    const { orgId, document, format, quality, scale, deadline } = job.data;
    if (Date.now() > deadline) return; // the API stopped waiting: render nothing
    const started = performance.now();
    try {
      const { out } = await renderStaged(orgId, document, { format, quality: quality ?? undefined, scale });
      const renderMs = Math.round(performance.now() - started);
      await ctx.redis.set(previewResultKey(ctx.config.QUEUE_PREFIX, id), out.buffer, "PX", PREVIEW_RESULT_TTL_MS);
      await ctx.events.publishPreview(id, {
        ok: true,
        key: id,
        width: out.width,
        height: out.height,
        contentType: out.contentType,
        renderMs,
      });
      log.debug({ previewId: id, orgId, renderMs }, "preview rendered");
    } catch (err) {
      const known = err instanceof RenderError;
      if (!known)
        log.warn({ previewId: id, orgId, err: err instanceof Error ? err.message : String(err) }, "preview failed");
      await ctx.events.publishPreview(id, {
        ok: false,
        error: known ? err.message : "the preview could not be rendered",
      });
    }
  }

  const worker = new Worker<PreviewPayload>(PREVIEW_QUEUE, processPreview, {
    connection: { url: ctx.config.REDIS_URL, maxRetriesPerRequest: null },
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency: ctx.config.RENDER_CONCURRENCY,
  });
  worker.on("error", (err) => log.error({ err: err.message }, "preview worker error"));
  return { close: (force = false) => worker.close(force) };
}
