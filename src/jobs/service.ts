// The render job domain: accept (pay, record, enqueue), read, and the status transitions the
// render worker drives. REST and GraphQL call these; neither holds a rule of its own.
import type { Logger } from "pino";
import { z } from "zod";
import { debit, recordCharge, refundJob } from "../billing/charges.js";
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  findIdempotentJob,
  requestFingerprint,
  type IdempotencyClaim,
} from "../billing/idempotency.js";
import { priceForRender, type PriceTable } from "../billing/prices.js";
import type { Prisma } from "../db/client.js";
import { newId } from "../db/ids.js";
import { afterCursor, newestFirst, toPage, type Page, type PageQuery } from "../db/pagination.js";
import type { EventBus } from "../events/bus.js";
import type { Job } from "../generated/prisma/client.js";
import type { RenderQueue } from "../queue/render-queue.js";
import type { Storage } from "../storage/storage.js";
import { OutputOptions, type TemplateDocument } from "../templates/document.js";
import { applyModifications, Modification, ModificationError } from "../templates/modifications.js";
import { checkFonts, findTemplate } from "../templates/service.js";
import { NotFoundError, ValidationError } from "./errors.js";
import { jobView, type JobStatus, type JobView } from "./view.js";

export interface JobsDeps {
  prisma: Prisma;
  renderQueue: RenderQueue;
  events: EventBus;
  storage: Storage;
  prices: PriceTable;
  logger: Logger;
}

export const CreateRenderInput = OutputOptions.extend({
  template_id: z.string().min(1).max(100),
  modifications: z.array(Modification).max(500).default([]),
});
export type CreateRenderInput = z.infer<typeof CreateRenderInput>;

export function viewOf(deps: Pick<JobsDeps, "storage">, job: Job): JobView {
  return jobView(job, (key) => deps.storage.publicUrl(key));
}

async function announce(deps: Pick<JobsDeps, "events" | "storage" | "logger">, job: Job): Promise<void> {
  // Best effort: the database already holds the change; a lost event is recovered by reading it.
  await deps.events.publishJob({ org_id: job.orgId, job: viewOf(deps, job) }).catch((err: unknown) => {
    deps.logger.warn({ err, jobId: job.id }, "could not publish job event");
  });
}

export interface AcceptOptions {
  /** The client's Idempotency-Key, if it sent one. */
  idempotencyKey?: string | undefined;
}

export interface Accepted {
  job: Job;
  /** True when an idempotency key replayed an earlier request: nothing new was created or charged. */
  replayed: boolean;
}

/** The job an idempotency key already produced, when the key was used before within the window. */
async function replayIfUsed(deps: JobsDeps, orgId: string, claim: IdempotencyClaim | null): Promise<Accepted | null> {
  if (!claim) return null;
  const jobId = await findIdempotentJob(deps.prisma, orgId, claim);
  return jobId ? { job: await deps.prisma.job.findUniqueOrThrow({ where: { id: jobId } }), replayed: true } : null;
}

/**
 * Accepts a render: resolves the template and modifications, then in ONE transaction claims the
 * idempotency key (if any), debits the organisation, inserts the job and its CHARGE row. A
 * refused debit throws before anything exists. Enqueueing happens after the commit; if Redis
 * refuses, the job stays pending in Postgres and the reconciler enqueues it later.
 */
export async function createRender(deps: JobsDeps, orgId: string, input: CreateRenderInput, opts: AcceptOptions = {}): Promise<Accepted> {
  const claim = opts.idempotencyKey ? { key: opts.idempotencyKey, fingerprint: requestFingerprint("render", input) } : null;
  // A replay answers as the first request did, even if the template changed or went away since.
  const earlier = await replayIfUsed(deps, orgId, claim);
  if (earlier) return earlier;

  const template = await findTemplate(deps.prisma, orgId, input.template_id);
  if (!template) throw new NotFoundError(`template ${input.template_id} not found`);
  let document: TemplateDocument;
  try {
    document = applyModifications(template.document as unknown as TemplateDocument, input.modifications);
  } catch (e) {
    if (e instanceof ModificationError) throw new ValidationError(e.message, e.path);
    throw e;
  }
  if (input.modifications.some((m) => m.font_family !== undefined)) await checkFonts(deps.prisma, orgId, document);
  const price = priceForRender(deps.prices, { width: document.width * input.scale, height: document.height * input.scale });
  const id = newId("clx");
  const result = await deps.prisma.$transaction(async (tx): Promise<Accepted> => {
    if (claim) {
      // A concurrent request with the same key committed first: replay its job.
      const existing = await claimIdempotencyKey(tx, orgId, claim);
      if (existing) return { job: await tx.job.findUniqueOrThrow({ where: { id: existing } }), replayed: true };
    }
    await debit(tx, orgId, price);
    const created = await tx.job.create({
      data: {
        id,
        orgId,
        templateId: template.id,
        templateVersion: template.version,
        input: { modifications: input.modifications, format: input.format, quality: input.quality ?? null, scale: input.scale },
        document,
        format: input.format,
        priceCents: price,
      },
    });
    await recordCharge(tx, orgId, id, price);
    if (claim) await completeIdempotencyKey(tx, orgId, claim.key, id);
    return { job: created, replayed: false };
  });
  if (result.replayed) return result;
  try {
    await deps.renderQueue.enqueue(id);
  } catch (err) {
    deps.logger.warn({ err, jobId: id }, "render queue unavailable; the reconciler will enqueue the job");
  }
  await announce(deps, result.job);
  return result;
}

/** The organisation's job, or NotFoundError — another organisation's job does not exist. */
export async function getJob(deps: Pick<JobsDeps, "prisma">, orgId: string, jobId: string): Promise<Job> {
  const job = await deps.prisma.job.findUnique({ where: { id: jobId } });
  if (!job || job.orgId !== orgId) throw new NotFoundError("job not found");
  return job;
}

export interface JobFilter {
  status?: JobStatus | undefined;
  templateId?: string | undefined;
}

/** The organisation's jobs, newest first, keyset-paginated. */
export async function listJobs(deps: Pick<JobsDeps, "prisma">, orgId: string, filter: JobFilter, page: PageQuery): Promise<Page<Job>> {
  const rows = await deps.prisma.job.findMany({
    where: {
      orgId,
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.templateId ? { templateId: filter.templateId } : {}),
      ...afterCursor(page.cursor),
    },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

// ---------------------------------------------------------------- transitions (render worker)

/**
 * pending|processing -> processing. Returns null when the job is already final (a duplicate or
 * late delivery from the queue): the caller must then do nothing.
 */
export async function markProcessing(deps: JobsDeps, jobId: string): Promise<Job | null> {
  const rows = await deps.prisma.$queryRaw<{ id: string }[]>`
    UPDATE "jobs" SET "status" = 'processing', "started_at" = COALESCE("started_at", now()), "attempts" = "attempts" + 1
    WHERE "id" = ${jobId} AND "status" IN ('pending', 'processing') RETURNING "id"`;
  if (rows.length === 0) return null;
  const job = await deps.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  if (job.attempts === 1) await announce(deps, job); // retries stay "processing": nothing new to say
  return job;
}

export async function markComplete(deps: JobsDeps, jobId: string, result: { outputKey: string; renderMs: number }): Promise<Job | null> {
  const updated = await deps.prisma.job.updateMany({
    where: { id: jobId, status: { in: ["pending", "processing"] } },
    data: { status: "complete", outputKey: result.outputKey, renderMs: result.renderMs, completedAt: new Date(), error: null },
  });
  if (updated.count === 0) return null;
  const job = await deps.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  await announce(deps, job);
  return job;
}

/** Ends the job as failed and refunds its charge, both at most once, in one transaction. */
export async function markFailed(deps: JobsDeps, jobId: string, error: string): Promise<Job | null> {
  const job = await deps.prisma.$transaction(async (tx) => {
    const updated = await tx.job.updateMany({
      where: { id: jobId, status: { in: ["pending", "processing"] } },
      data: { status: "failed", error: error.slice(0, 2000), completedAt: new Date() },
    });
    if (updated.count === 0) return null;
    await refundJob(tx, jobId);
    return tx.job.findUniqueOrThrow({ where: { id: jobId } });
  });
  if (job) await announce(deps, job);
  return job;
}
