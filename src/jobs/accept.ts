// Accepting work: a single render, a Studio design saved and rendered, a design group rendered
// as one job. Each validates everything first, then debits the organisation for everything at
// once and inserts the jobs and their CHARGE rows, all or none. A refused debit throws before
// anything exists (402 for all or none). Enqueueing happens after the commit; if Redis refuses,
// the jobs stay pending in Postgres and the reconciler enqueues them later.
//
// The hot path — a single render without an idempotency key — is one statement (debit, job,
// CHARGE row), written together with the organisation's other concurrent accepts (group commit:
// accept-batch.ts), from a template cached in the process and re-checked by that statement. The
// others (an idempotency key, Studio, groups) run in ONE transaction that also claims the key.
import { z } from "zod";
import { debit, recordCharge } from "../billing/charges.js";
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  findIdempotentJob,
  requestFingerprint,
  type IdempotencyClaim,
} from "../billing/idempotency.js";
import { backgroundRemovals, priceForRender } from "../billing/prices.js";
import type { Tx } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Job, Template } from "../generated/prisma/client.js";
import { deliveryColumns, prepareSendTo } from "../delivery/accept.js";
import { OutputOptions, renderBudgetProblem, type TemplateDocument } from "../templates/document.js";
import { checkTemplateIds, getDesignGroup } from "../templates/design-groups.js";
import { applyModifications, ModificationError } from "../templates/modifications.js";
import {
  checkFonts,
  findTemplate,
  findTemplateSnapshot,
  insertTemplate,
  prepareTemplate,
} from "../templates/service.js";
import { findLiveTemplates } from "../templates/template-repository.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { acceptInBatch } from "./accept-batch.js";
import { encodePaidRender, getJobById, insertJob, type PaidRender } from "./job-repository.js";
import { announce, type JobsDeps } from "./service.js";
import { CreateRenderInput, GroupRenderInput, Modification, StudioRenderInput } from "../views/requests.js";

export interface AcceptOptions {
  /** The client's Idempotency-Key, if it sent one. */
  idempotencyKey?: string | undefined;
  /** The request's id: recorded with the job so the render and delivery logs carry it. */
  requestId?: string | undefined;
  /**
   * Written in the accept's transaction with the new job (never on a replay), so it exists if and
   * only if the job was charged: a signed URL's record of the render it paid for. Needs an
   * idempotency key (the transactional path).
   */
  recordWithJob?: ((tx: Tx, job: Job) => Promise<void>) | undefined;
}

export interface Accepted {
  /** The job the client polls: the render, or the group job. */
  job: Job;
  /** True when an idempotency key replayed an earlier request: nothing new was created or charged. */
  replayed: boolean;
  /** Studio: the template the design was saved as. */
  templateId?: string;
}

/** One render to create: a template version's document with the request's modifications. */
interface PlannedRender {
  templateId: string;
  templateVersion: number;
  document: TemplateDocument;
  price: number;
}

type Output = z.infer<typeof OutputOptions>;

/**
 * The document a render (or a preview) of `template` draws: the modifications applied, and the
 * pixel budgets (output size, layer coverage, both growing with scale²) checked — refused here,
 * before anything is charged, rather than failing in the worker. `template.id` names the template
 * in a budget problem; `documentPath` is where a given document sits in the request (a preview's
 * `document`), for the problem's path.
 */
export function documentToRender(
  template: { id: string | null; document: unknown },
  modifications: Modification[],
  scale: number,
  opts: { skipUnknownLayers?: boolean; documentPath?: string[] } = {},
): TemplateDocument {
  let document: TemplateDocument;
  try {
    document = applyModifications(template.document as TemplateDocument, modifications, opts);
  } catch (e) {
    if (e instanceof ModificationError) throw new ValidationError(e.message, e.path);
    throw e;
  }
  const tooMuch = renderBudgetProblem(document, scale);
  if (tooMuch) {
    if (tooMuch.path[0] === "scale") throw new ValidationError(tooMuch.message, ["scale"]);
    if (template.id === null) throw new ValidationError(tooMuch.message, opts.documentPath ?? []);
    throw new ValidationError(`template ${template.id}: ${tooMuch.message}`, []);
  }
  return document;
}

function plan(
  deps: Pick<JobsDeps, "prices">,
  template: { id: string; version: number; document: unknown },
  modifications: Modification[],
  output: Output,
  opts: { skipUnknownLayers?: boolean } = {},
): PlannedRender {
  const document = documentToRender(template, modifications, output.scale, opts);
  // Background removals are billed on top, in the same charge (refunded with it).
  const price =
    priceForRender(deps.prices, {
      width: document.width * output.scale,
      height: document.height * output.scale,
    }) +
    deps.prices.backgroundRemovalCents * backgroundRemovals(document, output.scale);
  return { templateId: template.id, templateVersion: template.version, document, price };
}

const outputOf = (input: Output) => ({ format: input.format, quality: input.quality ?? null, scale: input.scale });

type RenderRequest = Output & { modifications: Modification[]; webhook_url?: string | undefined };

/** A render job's `input` column: what the client asked for, and the request's id. */
const renderInput = (input: RenderRequest, requestId: string | undefined) => ({
  modifications: input.modifications,
  ...outputOf(input),
  request_id: requestId ?? null,
});

async function insertRender(
  tx: Tx,
  orgId: string,
  render: PlannedRender,
  input: RenderRequest,
  delivery: { parentId?: string; sendTo?: string; requestId?: string | undefined } = {},
): Promise<Job> {
  const parentId = delivery.parentId;
  return insertJob(tx, {
    // Items of a group deliver nothing themselves: the group does.
    ...(parentId ? {} : deliveryColumns(input.webhook_url, delivery.sendTo)),
    id: newId("clx"),
    orgId,
    templateId: render.templateId,
    templateVersion: render.templateVersion,
    parentId: parentId ?? null,
    input: renderInput(input, delivery.requestId),
    document: render.document,
    format: input.format,
    priceCents: render.price,
  });
}

/** The job an idempotency key already produced, when the key was used before within the window. */
async function replayIfUsed(deps: JobsDeps, orgId: string, claim: IdempotencyClaim | null): Promise<Accepted | null> {
  if (!claim) return null;
  const jobId = await findIdempotentJob(deps.prisma, orgId, claim);
  if (!jobId) return null;
  const job = await getJobById(deps.prisma, jobId);
  return { job, replayed: true, ...(job.templateId ? { templateId: job.templateId } : {}) };
}

/**
 * The shared accept transaction. `insert` creates the jobs (the one the client polls first, then
 * the renders to queue) and runs after the debit of `total`; each render gets its CHARGE row.
 */
async function accept(
  deps: JobsDeps,
  orgId: string,
  claim: IdempotencyClaim | null,
  total: number,
  insert: (tx: Tx) => Promise<{ primary: Job; renders: Job[]; templateId?: string }>,
): Promise<Accepted> {
  const result = await deps.prisma.$transaction(async (tx): Promise<Accepted & { renders: Job[] }> => {
    if (claim) {
      // A concurrent request with the same key committed first: replay its job.
      const existing = await claimIdempotencyKey(tx, orgId, claim);
      if (existing) {
        const job = await getJobById(tx, existing);
        return { job, replayed: true, renders: [], ...(job.templateId ? { templateId: job.templateId } : {}) };
      }
    }
    await debit(tx, orgId, total);
    const { primary, renders, templateId } = await insert(tx);
    for (const render of renders) await recordCharge(tx, orgId, render.id, render.priceCents);
    if (claim) await completeIdempotencyKey(tx, orgId, claim.key, primary.id);
    return { job: primary, replayed: false, renders, ...(templateId ? { templateId } : {}) };
  });
  if (result.replayed) return result;
  await queueAndAnnounce(deps, result.job, result.renders);
  const { renders: _renders, ...accepted } = result;
  return accepted;
}

/**
 * After the commit: the pending state announced and the renders queued, all at once (the
 * announcement is sent first, before any worker can see the job).
 */
async function queueAndAnnounce(deps: JobsDeps, primary: Job, renders: Job[]): Promise<void> {
  await Promise.all([announce(deps, primary), ...(renders.length > 0 ? [enqueue(deps, primary.orgId, renders)] : [])]);
}

/** One admission pass covers every render of the accept (they are the organisation's). */
async function enqueue(deps: JobsDeps, orgId: string, renders: Job[]): Promise<void> {
  try {
    await deps.renderQueue.enqueue(orgId);
  } catch (err) {
    deps.logger.warn(
      { err, jobIds: renders.map((r) => r.id) },
      "render queue unavailable; the reconciler will enqueue the jobs",
    );
  }
}

const claimFor = (operation: string, input: unknown, opts: AcceptOptions): IdempotencyClaim | null =>
  opts.idempotencyKey ? { key: opts.idempotencyKey, fingerprint: requestFingerprint(operation, input) } : null;

/** A template read again this many times, each time changed before the accept, goes the transactional way. */
const STALE_RETRIES = 3;

/** POST /api/v1/create: one render of a saved template. */
export async function createRender(
  deps: JobsDeps,
  orgId: string,
  input: CreateRenderInput,
  opts: AcceptOptions = {},
): Promise<Accepted> {
  const claim = claimFor("render", input, opts);
  if (!claim) {
    if (opts.recordWithJob) throw new Error("recordWithJob needs an idempotency key");
    return createRenderNow(deps, orgId, input, opts);
  }
  // A replay answers as the first request did, even if the template changed or went away since.
  const earlier = await replayIfUsed(deps, orgId, claim);
  if (earlier) return earlier;
  return createRenderInTransaction(deps, orgId, input, opts, claim);
}

async function createRenderInTransaction(
  deps: JobsDeps,
  orgId: string,
  input: CreateRenderInput,
  opts: AcceptOptions,
  claim: IdempotencyClaim | null,
): Promise<Accepted> {
  const template = await findTemplate(deps.prisma, orgId, input.template_id);
  if (!template) throw new NotFoundError(`template ${input.template_id} not found`);
  const render = plan(deps, template, input.modifications, input);
  if (input.modifications.some((m) => m.font_family !== undefined))
    await checkFonts(deps.prisma, orgId, render.document);
  const sendTo = input.send_to ? await prepareSendTo(deps, orgId, input.send_to) : undefined;
  return accept(deps, orgId, claim, render.price, async (tx) => {
    const job = await insertRender(tx, orgId, render, input, {
      ...(sendTo ? { sendTo } : {}),
      requestId: opts.requestId,
    });
    await opts.recordWithJob?.(tx, job);
    return { primary: job, renders: [job] };
  });
}

/**
 * The hot path: the template from the process's cache, then one statement (batched with the
 * organisation's concurrent accepts) that debits, inserts the job and its CHARGE row — and checks
 * that the template is still at the planned version, else the template is read again and the
 * render planned anew. The job is returned as written, without reading it back.
 */
async function createRenderNow(
  deps: JobsDeps,
  orgId: string,
  input: CreateRenderInput,
  opts: AcceptOptions,
): Promise<Accepted> {
  let sendTo: string | undefined;
  for (let attempt = 0; attempt <= STALE_RETRIES; attempt++) {
    const template = await findTemplateSnapshot(deps.prisma, orgId, input.template_id, { fresh: attempt > 0 });
    if (!template) throw new NotFoundError(`template ${input.template_id} not found`);
    const render = plan(deps, template, input.modifications, input);
    if (input.modifications.some((m) => m.font_family !== undefined))
      await checkFonts(deps.prisma, orgId, render.document);
    if (input.send_to && sendTo === undefined) sendTo = await prepareSendTo(deps, orgId, input.send_to);
    const row: PaidRender = {
      id: newId("clx"),
      ledgerId: newId("led"),
      templateId: render.templateId,
      templateVersion: render.templateVersion,
      input: renderInput(input, opts.requestId),
      document: render.document,
      format: input.format,
      priceCents: render.price,
      ...deliveryColumns(input.webhook_url, sendTo),
    };
    const outcome = await acceptInBatch(deps.prisma, orgId, encodePaidRender(row));
    if (outcome === "stale") continue;
    const { ledgerId: _ledgerId, ...columns } = row;
    const job: Job = {
      ...columns,
      input: row.input as Job["input"],
      document: row.document as Job["document"],
      orgId,
      kind: "render",
      designGroupId: null,
      parentId: null,
      status: "pending",
      outputKey: null,
      renderMs: null,
      error: null,
      attempts: 0,
      sendToError: null,
      sendToResult: null,
      createdAt: outcome.createdAt,
      startedAt: null,
      completedAt: null,
      queuedAt: null, // admitted to the render queue by the enqueue below (src/queue/admission.ts)
      outputDeletedAt: null,
    };
    await queueAndAnnounce(deps, job, [job]);
    return { job, replayed: false };
  }
  // The template keeps changing under us: accept it as it is now, in a transaction.
  return createRenderInTransaction(deps, orgId, input, opts, null);
}

/** POST /api/v1/studio/create-and-render: save the design as a template and render it. */
export async function createStudioRender(
  deps: JobsDeps,
  orgId: string,
  input: StudioRenderInput,
  opts: AcceptOptions = {},
): Promise<Accepted> {
  const claim = claimFor("studio", input, opts);
  const earlier = await replayIfUsed(deps, orgId, claim);
  if (earlier) return earlier;
  const { name, document } = await prepareTemplate(deps.prisma, orgId, input.design).catch((e: unknown) => {
    // Paths point into the request body, where the document is `design`.
    if (e instanceof ValidationError) throw new ValidationError(e.message, ["design", ...e.path]);
    throw e;
  });
  const templateId = newId("tpl");
  const render = plan(deps, { id: templateId, version: 1, document }, input.modifications, input);
  if (input.modifications.some((m) => m.font_family !== undefined))
    await checkFonts(deps.prisma, orgId, render.document);
  const sendTo = input.send_to ? await prepareSendTo(deps, orgId, input.send_to) : undefined;
  return accept(deps, orgId, claim, render.price, async (tx) => {
    await insertTemplate(tx, orgId, templateId, name, document);
    const job = await insertRender(tx, orgId, render, input, {
      ...(sendTo ? { sendTo } : {}),
      requestId: opts.requestId,
    });
    return { primary: job, renders: [job], templateId };
  });
}

/** POST /api/v1/design-groups/create: every template of the group, one set of modifications. */
export async function createGroupRender(
  deps: JobsDeps,
  orgId: string,
  input: GroupRenderInput,
  opts: AcceptOptions = {},
): Promise<Accepted> {
  const claim = claimFor("group", input, opts);
  const earlier = await replayIfUsed(deps, orgId, claim);
  if (earlier) return earlier;
  const group = input.design_group_id ? await getDesignGroup(deps.prisma, orgId, input.design_group_id) : null;
  const ids = group ? group.templateIds : input.template_ids!;
  await checkTemplateIds(deps.prisma, orgId, ids, group ? "design_group_id" : "template_ids");
  const templates = await findLiveTemplates(deps.prisma, orgId, ids);
  const byId = new Map<string, Template>(templates.map((t) => [t.id, t]));
  // One set of modifications for several layouts: each must fit at least one template.
  const allLayers = new Set(templates.flatMap((t) => (t.document as TemplateDocument).layers.map((l) => l.name)));
  input.modifications.forEach((m, i) => {
    if (!allLayers.has(m.name)) {
      throw new ValidationError(
        `unknown layer "${m.name}": no template of the group has it; their layers are ${[...allLayers].map((n) => `"${n}"`).join(", ")}`,
        ["modifications", i, "name"],
      );
    }
  });
  const renders = ids.map((id) => plan(deps, byId.get(id)!, input.modifications, input, { skipUnknownLayers: true }));
  if (input.modifications.some((m) => m.font_family !== undefined))
    for (const r of renders) await checkFonts(deps.prisma, orgId, r.document);
  const total = renders.reduce((sum, r) => sum + r.price, 0);
  return accept(deps, orgId, claim, total, async (tx) => {
    const parent = await insertJob(tx, {
      id: newId("clx"),
      orgId,
      kind: "group",
      designGroupId: group?.id ?? null,
      ...deliveryColumns(input.webhook_url, undefined),
      input: {
        template_ids: ids,
        modifications: input.modifications,
        ...outputOf(input),
        request_id: opts.requestId ?? null,
      },
      format: input.format,
      priceCents: total,
    });
    const items: Job[] = [];
    for (const r of renders)
      items.push(await insertRender(tx, orgId, r, input, { parentId: parent.id, requestId: opts.requestId }));
    return { primary: parent, renders: items };
  });
}
