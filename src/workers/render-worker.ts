// The render worker: takes job ids from the BullMQ "render" queue and drives each job
// pending -> processing -> complete | failed. Postgres is written first, then events announce it.
// A render error that cannot succeed on retry (bad image, blocked address, a render over its time
// budget RENDER_TIMEOUT_MS) fails the job at once; anything else is retried by BullMQ, and the
// last attempt's failure ends the job as failed, refunded exactly once. No error here may crash
// the process.
//
// Fair scheduling, inside the worker (see docs/operations.md): RENDER_CONCURRENCY jobs are in
// flight, each in two stages. The I/O stage downloads the job's first images (FETCH_AHEAD) holding
// fetch slots (RENDER_FETCH_SLOTS per process, an organisation at most half of them: they bound the
// memory downloads ahead of renders take); the CPU stage renders holding one of RENDER_CPU_SLOTS.
// Both are served round-robin by organisation, first come first served within one. So a slow image
// host holds a fetch slot, never a CPU slot. RENDER_TIMEOUT_MS covers both stages (not the waits for
// a slot). When a job ends, its organisation's next waiting job is admitted to the queue.
// Background removal (remove_background) runs in the I/O stage, with the downloads: a job waiting
// for the engine (BACKGROUND_REMOVAL_CONCURRENCY removals per process, served round-robin by
// organisation) holds fetch slots of a pool of its own, not a CPU slot, so ordinary renders keep
// their fetch and CPU slots meanwhile. Unlike the slot waits above, that wait counts against RENDER_TIMEOUT_MS: the budget
// is the job's promise that it ends, and a removal is part of its work.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { DelayedError, UnrecoverableError, Worker, type Job as BullJob } from "bullmq";
import { isDatabaseUnavailable } from "../db/availability.js";
import { renderDuration } from "../observability/metrics.js";
import type { AppContext } from "../context.js";
import { completeAndAdmit, markFailed, markProcessing } from "../jobs/transitions.js";
import { uploadedFaces } from "../templates/fonts.js";
import { RENDER_QUEUE, type RenderPayload } from "../queue/render-queue.js";
import {
  configureBackgroundRemoval,
  configureImageCache,
  configureSharp,
  FETCH_AHEAD,
  imagesToFetch,
  prefetchImages,
  RenderError,
  renderTemplate,
  type RenderResult,
} from "../render/index.js";
import type { OutputFormat, TemplateDocument } from "../templates/document.js";
import { contentTypeForKey } from "../storage/content-type.js";
import { OUTPUT_CACHE_CONTROL } from "../storage/storage.js";
import { FairSlots } from "./fair-slots.js";
import { createPreviewWorker } from "./preview-worker.js";

export interface RenderWorker {
  close(force?: boolean): Promise<void>;
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createRenderWorker(ctx: AppContext): RenderWorker {
  // More CPU slots than jobs in flight would never be used.
  const cpuSlots = Math.min(ctx.config.RENDER_CPU_SLOTS ?? availableParallelism(), ctx.config.RENDER_CONCURRENCY);
  // libvips threads multiply by concurrent renders: share the cores rather than oversubscribe.
  configureSharp({ concurrency: Math.max(1, Math.floor(availableParallelism() / cpuSlots)) });
  configureImageCache({ ttlMs: ctx.config.IMAGE_CACHE_TTL_MS, maxBytes: ctx.config.IMAGE_CACHE_MAX_BYTES });
  // Applied when the first removal loads the engine (the model is not loaded before it is needed).
  configureBackgroundRemoval({
    modelPath: ctx.config.BACKGROUND_REMOVAL_MODEL,
    inputSize: ctx.config.BACKGROUND_REMOVAL_INPUT_SIZE,
    concurrency: ctx.config.BACKGROUND_REMOVAL_CONCURRENCY,
    threads: ctx.config.BACKGROUND_REMOVAL_THREADS,
    cacheMaxBytes: ctx.config.BACKGROUND_REMOVAL_CACHE_MAX_BYTES,
  });
  const log = ctx.logger.child({ component: "render-worker" });
  const cpu = new FairSlots(cpuSlots);
  const fetchSlots = new FairSlots(
    ctx.config.RENDER_FETCH_SLOTS,
    Math.max(FETCH_AHEAD, Math.ceil(ctx.config.RENDER_FETCH_SLOTS / 2)),
  );
  // Jobs that remove a background wait in their I/O stage for the engine (a few removals at a
  // time per process, 0.5-1 s each), holding their downloads: they take their fetch slots from a
  // pool of their own, so a queue of removals never holds the slots ordinary renders download with.
  const removalFetchSlots = new FairSlots(2 * FETCH_AHEAD * ctx.config.BACKGROUND_REMOVAL_CONCURRENCY, FETCH_AHEAD);
  if (!existsSync(ctx.config.BACKGROUND_REMOVAL_MODEL)) {
    log.warn(
      { model: ctx.config.BACKGROUND_REMOVAL_MODEL },
      "the background-removal model file does not exist: renders with remove_background will fail (BACKGROUND_REMOVAL_MODEL)",
    );
  }

  /** A slot of the organisation freed: admit its next waiting job (the reconciler does, should this fail). */
  async function admitNext(orgId: string): Promise<void> {
    await ctx.renderQueue.admit(orgId).catch((err: unknown) => admissionFailed(orgId, err));
  }

  function admissionFailed(orgId: string, err: unknown): void {
    log.warn(
      { orgId, err: errorMessage(err) },
      "admission failed; the reconciler will admit the organisation's next job",
    );
  }

  /**
   * A document rendered in the two stages, fairly by organisation: its first images downloaded
   * holding fetch slots (no CPU slot), then drawn and encoded holding a CPU slot. Renders and
   * previews both go through here, so they share the slots.
   */
  async function renderStaged(
    orgId: string,
    document: TemplateDocument,
    output: { format: OutputFormat; quality: number | undefined; scale: number; timeoutMs?: number },
  ): Promise<{ out: RenderResult; fetchMs: number; cpuWaitMs: number }> {
    const { scale } = output;
    const families = [...new Set(document.layers.flatMap((l) => (l.type === "text" ? [l.font_family] : [])))];
    const fonts = await uploadedFaces(ctx, orgId, families);
    const options = {
      allowPrivateNetworks: ctx.config.ALLOW_PRIVATE_NETWORKS,
      fetchTimeoutMs: ctx.config.IMAGE_FETCH_TIMEOUT_MS,
      maxImageBytes: ctx.config.IMAGE_MAX_BYTES,
      // Over it: RenderError RENDER_TIMEOUT "render exceeded the 15 s budget (RENDER_TIMEOUT_MS)",
      // not retryable. The render's fetches are aborted and its SVG rasterisers killed. It covers
      // the downloads of the I/O stage and the render, not the waits for a slot.
      timeoutMs: output.timeoutMs ?? ctx.config.RENDER_TIMEOUT_MS,
      // Background removals (a few at a time per process) are shared round-robin by organisation.
      fairnessKey: orgId,
    };
    // I/O stage: the first images, without a CPU slot. The slots are held until the render ends
    // (the render holds the downloaded bytes).
    const images = imagesToFetch(document, scale, Math.min(FETCH_AHEAD, fetchSlots.maxPerAcquire));
    const pool = images.some((image) => image.removeBackground) ? removalFetchSlots : fetchSlots;
    const releaseFetch = await pool.acquire(orgId, images.length);
    try {
      const prefetched = await prefetchImages(images, options);
      // CPU stage.
      const queued = performance.now();
      let cpuWaitMs = 0;
      const out = await cpu.run(orgId, () => {
        cpuWaitMs = performance.now() - queued;
        return renderTemplate(document, {
          ...options,
          format: output.format,
          ...(output.quality !== undefined ? { quality: output.quality } : {}),
          scale,
          fonts,
          prefetched,
        });
      });
      return { out, fetchMs: prefetched.spentMs, cpuWaitMs };
    } finally {
      releaseFetch();
    }
  }

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
    // One line per job at info (its end, below); its start only at debug.
    log.debug({ jobId, requestId, attempt: job.attempts }, "render started");
    const started = performance.now();
    try {
      const document = job.document as unknown as TemplateDocument;
      const output = job.input as { quality?: number | null; scale?: number };
      const { out, fetchMs, cpuWaitMs } = await renderStaged(job.orgId, document, {
        format: job.format as OutputFormat,
        quality: output.quality ?? undefined,
        scale: output.scale ?? 1,
      });
      const key = `${job.id}.${out.format}`;
      await ctx.storage.put(key, out.buffer, {
        contentType: contentTypeForKey(key),
        cacheControl: OUTPUT_CACHE_CONTROL,
      });
      const elapsed = performance.now() - started;
      // The job's slot goes to its organisation's next job in the same round trip.
      const { queued } = await completeAndAdmit(ctx, job, { outputKey: key, renderMs: Math.round(elapsed) });
      renderDuration.observe({ format: out.format }, elapsed / 1000);
      log.info(
        { jobId, requestId, renderMs: Math.round(elapsed), fetchMs, cpuWaitMs: Math.round(cpuWaitMs) },
        "render complete",
      );
      await queued.catch((err: unknown) => admissionFailed(job.orgId, err));
    } catch (err) {
      const permanent = err instanceof RenderError && !err.retryable;
      const lastAttempt = bullJob.attemptsMade + 1 >= (bullJob.opts.attempts ?? 1);
      log.warn(
        { jobId, requestId, err: errorMessage(err), attempt: bullJob.attemptsMade + 1, permanent },
        "render failed",
      );
      if (isDatabaseUnavailable(err)) throw err; // not the render's fault: postponed above
      if (permanent || lastAttempt) {
        await markFailed(ctx, job.id, errorMessage(err));
        await admitNext(job.orgId);
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
  // Previews: their own queue, the same slots.
  const previews = createPreviewWorker(ctx, renderStaged);
  return {
    close: async (force = false) => {
      await Promise.all([worker.close(force), previews.close(force)]);
    },
  };
}
