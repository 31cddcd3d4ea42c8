// The render worker: takes job ids from the BullMQ "render" queue and drives each job
// pending -> processing -> complete | failed. Postgres is written first, then events announce it.
// A render error that cannot succeed on retry (bad image, blocked address, a render over its time
// budget RENDER_TIMEOUT_MS) fails the job at once; anything else is retried by BullMQ, and the
// last attempt's failure ends the job as failed, refunded exactly once. No error here may crash
// the process.
import { availableParallelism } from "node:os";
import { DelayedError, UnrecoverableError, Worker, type Job as BullJob } from "bullmq";
import { isDatabaseUnavailable } from "../db/availability.js";
import { renderDuration } from "../observability/metrics.js";
import type { AppContext } from "../context.js";
import { markComplete, markFailed, markProcessing } from "../jobs/transitions.js";
import { uploadedFaces } from "../templates/fonts.js";
import { RENDER_QUEUE, type RenderPayload } from "../queue/render-queue.js";
import { configureImageCache, configureSharp, RenderError, renderTemplate } from "../render/index.js";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";

export interface RenderWorker {
  close(force?: boolean): Promise<void>;
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createRenderWorker(ctx: AppContext): RenderWorker {
  // libvips threads multiply by concurrent renders: share the cores rather than oversubscribe.
  configureSharp({ concurrency: Math.max(1, Math.floor(availableParallelism() / ctx.config.RENDER_CONCURRENCY)) });
  configureImageCache({ ttlMs: ctx.config.IMAGE_CACHE_TTL_MS });
  const log = ctx.logger.child({ component: "render-worker" });

  async function processJob(bullJob: BullJob<RenderPayload>, token?: string): Promise<void> {
    try {
      await renderJob(bullJob);
    } catch (err) {
      // The database is away: wait for it without spending one of the job's attempts.
      if (!isDatabaseUnavailable(err) || !token) throw err;
      log.warn({ jobId: bullJob.data.jobId }, "database unavailable; render postponed");
      await bullJob.moveToDelayed(Date.now() + 2_000, token);
      throw new DelayedError();
    }
  }

  async function renderJob(bullJob: BullJob<RenderPayload>): Promise<void> {
    const { jobId } = bullJob.data;
    const job = await markProcessing(ctx, jobId);
    if (!job) return; // already final: a late duplicate from the queue
    const requestId = (job.input as { request_id?: string | null }).request_id ?? undefined;
    log.info({ jobId, requestId, attempt: job.attempts }, "render started");
    const started = performance.now();
    try {
      const document = job.document as unknown as TemplateDocument;
      const output = job.input as { quality?: number | null; scale?: number };
      const families = [...new Set(document.layers.flatMap((l) => (l.type === "text" ? [l.font_family] : [])))];
      const out = await renderTemplate(document, {
        format: job.format as OutputFormat,
        quality: output.quality ?? undefined,
        scale: output.scale ?? 1,
        fonts: await uploadedFaces(ctx, job.orgId, families),
        allowPrivateNetworks: ctx.config.ALLOW_PRIVATE_NETWORKS,
        fetchTimeoutMs: ctx.config.IMAGE_FETCH_TIMEOUT_MS,
        maxImageBytes: ctx.config.IMAGE_MAX_BYTES,
        // Over it: RenderError RENDER_TIMEOUT "render exceeded the 15 s budget (RENDER_TIMEOUT_MS)",
        // not retryable. The render's fetches are aborted and its SVG rasterisers killed.
        timeoutMs: ctx.config.RENDER_TIMEOUT_MS,
      });
      const key = `${job.id}.${out.format}`;
      await ctx.storage.put(key, out.buffer);
      const elapsed = performance.now() - started;
      await markComplete(ctx, job.id, { outputKey: key, renderMs: Math.round(elapsed) });
      renderDuration.observe({ format: out.format }, elapsed / 1000);
      log.info({ jobId, requestId, renderMs: Math.round(elapsed) }, "render complete");
    } catch (err) {
      const permanent = err instanceof RenderError && !err.retryable;
      const lastAttempt = bullJob.attemptsMade + 1 >= (bullJob.opts.attempts ?? 1);
      log.warn({ jobId, requestId, err: errorMessage(err), attempt: bullJob.attemptsMade + 1, permanent }, "render failed");
      if (isDatabaseUnavailable(err)) throw err; // not the render's fault: postponed above
      if (permanent || lastAttempt) {
        await markFailed(ctx, job.id, errorMessage(err));
        if (permanent) throw new UnrecoverableError(errorMessage(err));
        return;
      }
      throw err; // BullMQ retries with backoff; the job stays "processing"
    }
  }

  const worker = new Worker<RenderPayload>(RENDER_QUEUE, processJob, {
    connection: { url: ctx.config.REDIS_URL, maxRetriesPerRequest: null },
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency: ctx.config.RENDER_CONCURRENCY,
    // A worker killed mid-render leaves a lock that expires; the job then runs again elsewhere.
    lockDuration: ctx.config.RENDER_LOCK_MS,
    stalledInterval: Math.max(500, Math.floor(ctx.config.RENDER_LOCK_MS / 2)),
    maxStalledCount: 2,
  });
  worker.on("error", (err) => log.error({ err: err.message }, "render worker error"));
  return {
    close: (force = false) => worker.close(force),
  };
}
