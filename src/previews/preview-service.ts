// Previews: a document (or a saved template with modifications) rendered and answered inline, for
// an editor to show while it is being edited. No job, no charge, no ledger entry, no stored output,
// no RENDER_ORG_SLOTS admission. The API process never renders (it does not load the renderer): the
// preview goes to the render workers on the "previews" queue (src/queue/preview-queue.ts), which
// render it with the organisation's uploaded fonts, fetching images with the renders' guards,
// sharing the workers' CPU and fetch slots round-robin by organisation with the renders.
// REST (POST /api/v1/previews) and GraphQL (Query.preview) both call renderPreview.
//
// Free, so bounded: per API key a rate-limit bucket of its own (PREVIEW_RATE_LIMIT_MAX per
// PREVIEW_RATE_LIMIT_WINDOW_MS) and at most PREVIEW_MAX_IN_FLIGHT previews waiting for a worker at
// once in this process; at most MAX_PREVIEW_PIXELS of output (the scale is lowered to fit: an
// editor's view, not the full-size image a charged render makes); the work on the worker ends at
// the API's deadline; and only for an organisation that could pay for a render (a suspended or
// spent one gets the renders' 402). Background removal (0.5-1 s of a core) is not run for a
// preview: the photo is drawn as it is, and a note says so.
import { randomUUID } from "node:crypto";
import type { Principal } from "../auth/api-keys.js";
import { RateLimitedError } from "../auth/rate-limiter.js";
import { AccountSuspendedError, InsufficientBalanceError } from "../billing/errors.js";
import type { AppContext } from "../context.js";
import { NotFoundError } from "../errors.js";
import { documentToRender } from "../jobs/accept.js";
import { previewResultKey, previewScale, type PreviewOutcome } from "../queue/preview-queue.js";
import type { TemplateDocument } from "../templates/document.js";
import { checkFonts, findTemplate } from "../templates/service.js";
import type { PreviewInput } from "../views/requests.js";
import { PreviewFailedError, PreviewUnavailableError } from "./errors.js";

export interface Preview {
  image: Buffer;
  contentType: string;
  width: number;
  height: number;
  /** The render worker's time, downloads included (not the queue's). */
  renderMs: number;
  /** What the preview left out that a render would do, one sentence each (ASCII). */
  notes: string[];
}

/** Previews of each API key waiting for a worker in this process. */
const inFlight = new WeakMap<AppContext, Map<string, number>>();

/** The document to preview: modifications applied, budgets checked, fonts known. */
async function documentOf(ctx: AppContext, orgId: string, input: PreviewInput): Promise<TemplateDocument> {
  if (input.document) {
    await checkFonts(ctx.prisma, orgId, input.document, ["document"]);
    return documentToRender({ id: null, document: input.document }, input.modifications, input.scale, {
      documentPath: ["document"],
    });
  }
  const template = await findTemplate(ctx.prisma, orgId, input.template_id!);
  if (!template) throw new NotFoundError(`template ${input.template_id} not found`);
  const document = documentToRender(template, input.modifications, input.scale);
  if (input.modifications.some((m) => m.font_family !== undefined)) await checkFonts(ctx.prisma, orgId, document);
  return document;
}

/** Background removals are for renders: drawn without, each named in a note. */
function withoutBackgroundRemoval(document: TemplateDocument): { document: TemplateDocument; notes: string[] } {
  const notes: string[] = [];
  const layers = document.layers.map((layer) => {
    if (layer.type !== "image" || !layer.remove_background) return layer;
    if (!layer.hidden && layer.image_url)
      notes.push(`image layer "${layer.name}": background not removed in previews (it is in renders)`);
    return { ...layer, remove_background: false };
  });
  return { document: { ...document, layers }, notes };
}

export async function renderPreview(ctx: AppContext, principal: Principal, input: PreviewInput): Promise<Preview> {
  const bucket = `key:${principal.apiKeyId}`;
  await ctx.limits.previews.enforce(bucket);
  await ensureCanRender(ctx, principal.orgId);
  const { document, notes } = withoutBackgroundRemoval(await documentOf(ctx, principal.orgId, input));
  const scale = previewScale(document, input.scale);

  const counts = inFlight.get(ctx) ?? new Map<string, number>();
  inFlight.set(ctx, counts);
  const max = ctx.config.PREVIEW_MAX_IN_FLIGHT;
  const mine = counts.get(bucket) ?? 0;
  if (mine >= max)
    throw new RateLimitedError({ allowed: false, limit: max, remaining: 0, resetSeconds: 1 }, "previews in flight");
  counts.set(bucket, mine + 1);
  try {
    const { id, outcome } = await queueAndWait(ctx, principal.orgId, document, { ...input, scale });
    if (!outcome.ok) {
      if (outcome.unavailable) throw new PreviewUnavailableError(outcome.error);
      throw new PreviewFailedError(outcome.error);
    }
    // The bytes are under the preview's own id (never a key named by the message).
    const bytes = await ctx.redis
      .getdelBuffer(previewResultKey(ctx.config.QUEUE_PREFIX, id))
      .catch((err: unknown) => queueUnavailable(ctx, err));
    if (!bytes) throw new PreviewUnavailableError("the preview's image expired before it was read");
    return {
      image: bytes,
      contentType: outcome.contentType,
      width: outcome.width,
      height: outcome.height,
      renderMs: outcome.renderMs,
      notes,
    };
  } finally {
    const left = (counts.get(bucket) ?? 1) - 1;
    if (left > 0) counts.set(bucket, left);
    else counts.delete(bucket);
  }
}

/** Redis did not answer: 503, as when no worker answers. */
function queueUnavailable(ctx: AppContext, err: unknown): never {
  ctx.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "preview queue unavailable");
  throw new PreviewUnavailableError("the preview queue is unavailable; retry shortly");
}

/** Previews are free, but only for an organisation that could pay for a render: the renders' 402 otherwise. */
async function ensureCanRender(ctx: AppContext, orgId: string): Promise<void> {
  const org = await ctx.prisma.organization.findUnique({
    where: { id: orgId },
    select: { status: true, balanceCents: true },
  });
  if (org?.status === "SUSPENDED") throw new AccountSuspendedError();
  if (!org || org.balanceCents < ctx.prices.standardCents) throw new InsufficientBalanceError();
}

/** Subscribes to the preview's outcome, queues it, and waits up to PREVIEW_TIMEOUT_MS. */
async function queueAndWait(
  ctx: AppContext,
  orgId: string,
  document: TemplateDocument,
  input: PreviewInput,
): Promise<{ id: string; outcome: PreviewOutcome }> {
  const id = randomUUID();
  const timeoutMs = ctx.config.PREVIEW_TIMEOUT_MS;
  let settle!: (outcome: PreviewOutcome) => void;
  const answered = new Promise<PreviewOutcome>((resolve) => (settle = resolve));
  const unavailable = (err: unknown) => queueUnavailable(ctx, err);
  const unsubscribe = await ctx.events.subscribePreview(id, (outcome) => settle(outcome)).catch(unavailable);
  let timer: NodeJS.Timeout | undefined;
  try {
    await ctx.previewQueue
      .add(id, {
        orgId,
        document,
        format: input.format,
        quality: input.quality ?? null,
        scale: input.scale,
        deadline: Date.now() + timeoutMs,
      })
      .catch(unavailable);
    const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const outcome = await Promise.race([answered, timedOut]);
    if (!outcome) {
      // Taken off the queue if no worker has it yet; a worker that has it stops at the same
      // deadline, and stores nothing after it.
      await ctx.previewQueue.drop(id);
      const waited = timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`;
      throw new PreviewUnavailableError(`no render worker answered the preview in ${waited}`);
    }
    return { id, outcome };
  } finally {
    clearTimeout(timer);
    await unsubscribe();
  }
}
