// Accepting work, without HTTP: createRender, createStudioRender and createGroupRender against the
// real database and Redis. Charged once in the transaction that creates the job; a refused debit
// (the 402 of the API) leaves no job, no ledger row, no template and nothing queued; idempotency
// keys replay and refuse; concurrent accepts never spend more than the balance.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotencyConflictError } from "../../src/billing/idempotency.js";
import { fundOrganization, setOrganizationStatus } from "../../src/billing/organizations.js";
import type { RenderQueue } from "../../src/queue/render-queue.js";
import { createGroupRender, createRender, createStudioRender } from "../../src/jobs/accept.js";
import { AccountSuspendedError, InsufficientBalanceError } from "../../src/billing/errors.js";
import { NotFoundError, ValidationError } from "../../src/errors.js";
import { deleteTemplate } from "../../src/templates/service.js";
import { recordOrgEvents, smallTemplate, startDomain, type Domain } from "../helpers/domain.js";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { CreateRenderInput, GroupRenderInput, StudioRenderInput } from "../../src/views/requests.js";

let domain: Domain;
beforeAll(async () => {
  domain = await startDomain();
});
afterAll(() => domain?.close());

const render = (templateId: string, extra: Partial<CreateRenderInput> = {}) =>
  CreateRenderInput.parse({ template_id: templateId, ...extra });

/** What exists for the organisation: jobs, ledger rows by kind, templates. */
async function footprint(orgId: string) {
  const { prisma } = domain.ctx;
  const ledger = await prisma.ledgerEntry.findMany({ where: { orgId }, select: { kind: true } });
  return {
    jobs: await prisma.job.count({ where: { orgId } }),
    charges: ledger.filter((e) => e.kind === "CHARGE").length,
    refunds: ledger.filter((e) => e.kind === "REFUND").length,
    templates: await prisma.template.count({ where: { orgId } }),
  };
}

describe("createRender", () => {
  it("charges the price once, in the transaction that creates the job, and queues the job", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const events = await recordOrgEvents(domain.ctx.events, orgId);
    const queuedBefore = await domain.queuedRenders();

    const accepted = await createRender(domain.ctx, orgId, render(template.id), { requestId: "req-1" });

    expect(accepted.replayed).toBe(false);
    expect(accepted.job).toMatchObject({
      orgId,
      status: "pending",
      kind: "render",
      templateId: template.id,
      templateVersion: 1,
      priceCents: 1,
    });
    expect((accepted.job.input as { request_id: string }).request_id).toBe("req-1");
    const charges = await domain.ctx.prisma.ledgerEntry.findMany({ where: { jobId: accepted.job.id } });
    expect(charges.map((c) => [c.kind, c.amountCents])).toEqual([["CHARGE", -1]]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
    expect(await domain.ctx.renderQueue.queue.getJob(accepted.job.id)).toBeDefined();
    expect(await domain.queuedRenders()).toBe(queuedBefore + 1);
    // The pending state is announced once the job exists.
    expect((await events.next(1)).map((v) => [v.job_id, v.status])).toEqual([[accepted.job.id, "pending"]]);
    await events.stop();
  });

  it("returns the job exactly as written, without reading it back", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const accepted = await createRender(
      domain.ctx,
      orgId,
      render(template.id, {
        modifications: [{ name: "box", color: "#00ff00" }],
        webhook_url: "https://example.com/hook",
        quality: 80,
        format: "jpeg",
      }),
      { requestId: "req-2" },
    );
    // As written: admission to the render queue (queued_at) comes after, in the enqueue.
    const stored = await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: accepted.job.id } });
    expect(accepted.job).toEqual({ ...stored, queuedAt: null });
    expect(stored.queuedAt).not.toBeNull();
  });

  it("prices by output size after scale: above 4 megapixels costs the large price", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId, { width: 1200, height: 630, background: "#000000" });
    const accepted = await createRender(domain.ctx, orgId, render(template.id, { scale: 3, format: "jpeg" })); // 3600x1890
    expect(accepted.job.priceCents).toBe(2);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(8);
  });

  it("a balance too small: InsufficientBalanceError, and no job, no ledger row, nothing queued", async () => {
    const orgId = await domain.createOrg(0);
    const template = await domain.createTemplate(orgId);
    const queuedBefore = await domain.queuedRenders();
    await expect(createRender(domain.ctx, orgId, render(template.id))).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(await footprint(orgId)).toEqual({ jobs: 0, charges: 0, refunds: 0, templates: 1 });
    expect(await domain.queuedRenders()).toBe(queuedBefore);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(0);
  });

  it("a suspended organisation: AccountSuspendedError whatever its balance, nothing written; reactivated, it renders", async () => {
    const orgId = await domain.createOrg(50);
    const template = await domain.createTemplate(orgId);
    await setOrganizationStatus(domain.ctx.prisma, orgId, "SUSPENDED");
    const queuedBefore = await domain.queuedRenders();
    await expect(createRender(domain.ctx, orgId, render(template.id))).rejects.toBeInstanceOf(AccountSuspendedError);
    expect(await footprint(orgId)).toEqual({ jobs: 0, charges: 0, refunds: 0, templates: 1 });
    expect(await domain.queuedRenders()).toBe(queuedBefore);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(50);

    await setOrganizationStatus(domain.ctx.prisma, orgId, "ACTIVE");
    await createRender(domain.ctx, orgId, render(template.id));
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(49);
  });

  it("refuses before paying: an unknown template, another organisation's template, a deleted one", async () => {
    const orgId = await domain.createOrg(10);
    const other = await domain.createOrg(10);
    const theirs = await domain.createTemplate(other);
    const deleted = await domain.createTemplate(orgId);
    await deleteTemplate(domain.ctx.prisma, orgId, deleted.id);
    for (const id of ["tpl_nope", theirs.id, deleted.id]) {
      await expect(createRender(domain.ctx, orgId, render(id))).rejects.toBeInstanceOf(NotFoundError);
    }
    expect(await footprint(orgId)).toMatchObject({ jobs: 0, charges: 0 });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(10);
  });

  it("a modification that does not fit: ValidationError naming the path, nothing charged", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const error = await createRender(
      domain.ctx,
      orgId,
      render(template.id, { modifications: [{ name: "box", font_size: 20 }] }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]?.path).toBe("modifications[0].font_size");
    expect(await footprint(orgId)).toMatchObject({ jobs: 0, charges: 0 });
  });

  it("Redis refusing the enqueue does not undo the accept: the job stays pending and charged for the reconciler", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const refusing = { enqueue: () => Promise.reject(new Error("Redis is away")) } as unknown as RenderQueue;
    const accepted = await createRender({ ...domain.ctx, renderQueue: refusing }, orgId, render(template.id));
    expect(accepted.job.status).toBe("pending");
    expect(await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: accepted.job.id } })).toMatchObject({
      status: "pending",
    });
    expect(await domain.ctx.renderQueue.queue.getJob(accepted.job.id)).toBeUndefined();
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
  });
});

describe("concurrent accepts against a small balance", () => {
  it("never go negative: 5 cents, 20 concurrent renders of 1 cent: 5 accepted, 15 refused, balance 0", async () => {
    const orgId = await domain.createOrg(5);
    const template = await domain.createTemplate(orgId);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => createRender(domain.ctx, orgId, render(template.id))),
    );
    const accepted = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(accepted).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) expect(r.reason).toBeInstanceOf(InsufficientBalanceError);
    expect(await footprint(orgId)).toMatchObject({ jobs: 5, charges: 5 });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(0);
  });

  it("are written together (group commit), each job charged once and queued as its organisation's slots allow", async () => {
    const orgId = await domain.createOrg(100);
    const template = await domain.createTemplate(orgId);
    await createRender(domain.ctx, orgId, render(template.id)); // the template is now cached
    const queuedBefore = await domain.queuedRenders();
    const accepted = await Promise.all(
      Array.from({ length: 30 }, () => createRender(domain.ctx, orgId, render(template.id))),
    );
    const jobs = await domain.ctx.prisma.job.findMany({ where: { id: { in: accepted.map((a) => a.job.id) } } });
    expect(jobs).toHaveLength(30);
    // One transaction, one created_at: fewer commits than accepts.
    expect(new Set(jobs.map((j) => j.createdAt.getTime())).size).toBeLessThan(30);
    for (const a of accepted) expect(a.job).toEqual({ ...jobs.find((j) => j.id === a.job.id), queuedAt: null }); // admitted after the write
    expect(await footprint(orgId)).toMatchObject({ jobs: 31, charges: 31 });
    // Queued as fairness allows: the organisation's first RENDER_ORG_SLOTS unfinished jobs go to
    // the render queue (one is the render above), the others wait their turn in PostgreSQL.
    const slots = domain.ctx.config.RENDER_ORG_SLOTS;
    expect(await domain.queuedRenders()).toBe(queuedBefore + Math.min(30, slots - 1));
    expect(jobs.filter((j) => j.queuedAt === null)).toHaveLength(30 - Math.min(30, slots - 1));
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(69);
  });

  it("a suspended organisation: every one of a burst refused as suspended, nothing written", async () => {
    const orgId = await domain.createOrg(100);
    const template = await domain.createTemplate(orgId);
    await createRender(domain.ctx, orgId, render(template.id));
    await setOrganizationStatus(domain.ctx.prisma, orgId, "SUSPENDED");
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => createRender(domain.ctx, orgId, render(template.id))),
    );
    for (const r of results) expect(r.status === "rejected" && r.reason instanceof AccountSuspendedError).toBe(true);
    expect(await footprint(orgId)).toMatchObject({ jobs: 1, charges: 1 });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(99);
  });

  it("a group and single renders racing for the same cents: all or nothing for the group", async () => {
    const orgId = await domain.createOrg(3);
    const a = await domain.createTemplate(orgId);
    const b = await domain.createTemplate(orgId);
    const group = GroupRenderInput.parse({ template_ids: [a.id, b.id] });
    const results = await Promise.allSettled([
      createGroupRender(domain.ctx, orgId, group),
      createRender(domain.ctx, orgId, render(a.id)),
      createRender(domain.ctx, orgId, render(b.id)),
    ]);
    const spent = results.reduce((sum, r, i) => sum + (r.status === "fulfilled" ? (i === 0 ? 2 : 1) : 0), 0);
    expect(spent).toBeLessThanOrEqual(3);
    const balance = await expectLedgerBalanced(domain.ctx.prisma, orgId);
    expect(balance).toBe(3 - spent);
    expect(balance).toBeGreaterThanOrEqual(0);
    // Whatever won, every CHARGE row belongs to an existing render job and the rows match the jobs.
    const renders = await domain.ctx.prisma.job.count({ where: { orgId, kind: "render" } });
    expect((await footprint(orgId)).charges).toBe(renders);
    expect(renders).toBe(spent);
  });
});

describe("idempotency keys", () => {
  it("replays the same request: the first job, no second job, no second charge — even after the template is gone", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const first = await createRender(domain.ctx, orgId, render(template.id, { format: "png" }), {
      idempotencyKey: "order-42",
    });
    const queuedAfterFirst = await domain.queuedRenders();
    // Same request, keys in another order: the fingerprint is over the canonical form.
    const again = await createRender(
      domain.ctx,
      orgId,
      CreateRenderInput.parse({ format: "png", template_id: template.id }),
      { idempotencyKey: "order-42" },
    );
    expect(again.replayed).toBe(true);
    expect(again.job.id).toBe(first.job.id);
    expect(await footprint(orgId)).toMatchObject({ jobs: 1, charges: 1 });
    expect(await domain.queuedRenders()).toBe(queuedAfterFirst);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);

    await deleteTemplate(domain.ctx.prisma, orgId, template.id);
    const afterDelete = await createRender(domain.ctx, orgId, render(template.id, { format: "png" }), {
      idempotencyKey: "order-42",
    });
    expect([afterDelete.replayed, afterDelete.job.id]).toEqual([true, first.job.id]);
  });

  it("refuses the same key for a different request, per organisation", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    await createRender(domain.ctx, orgId, render(template.id), { idempotencyKey: "k1" });
    await expect(
      createRender(domain.ctx, orgId, render(template.id, { format: "jpeg" }), { idempotencyKey: "k1" }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    // The same key on another operation is a different request too.
    const studio = StudioRenderInput.parse({ design: smallTemplate() });
    await expect(createStudioRender(domain.ctx, orgId, studio, { idempotencyKey: "k1" })).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
    expect(await footprint(orgId)).toMatchObject({ jobs: 1, charges: 1, templates: 1 });

    const other = await domain.createOrg(10);
    const theirs = await domain.createTemplate(other);
    expect((await createRender(domain.ctx, other, render(theirs.id), { idempotencyKey: "k1" })).replayed).toBe(false);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
  });

  it("concurrent requests with one key create one job and charge once", async () => {
    const orgId = await domain.createOrg(100);
    const template = await domain.createTemplate(orgId);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        createRender(domain.ctx, orgId, render(template.id), { idempotencyKey: "burst" }),
      ),
    );
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await footprint(orgId)).toMatchObject({ jobs: 1, charges: 1 });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(99);
  });

  it("a refused debit leaves the key unclaimed: the same request succeeds after a top-up", async () => {
    const orgId = await domain.createOrg(0);
    const template = await domain.createTemplate(orgId);
    await expect(
      createRender(domain.ctx, orgId, render(template.id), { idempotencyKey: "retry-me" }),
    ).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(await domain.ctx.prisma.idempotencyKey.count({ where: { orgId } })).toBe(0);
    await fundOrganization(domain.ctx.prisma, orgId, 5);
    const accepted = await createRender(domain.ctx, orgId, render(template.id), { idempotencyKey: "retry-me" });
    expect(accepted.replayed).toBe(false);
    expect(
      await domain.ctx.prisma.idempotencyKey.findUniqueOrThrow({ where: { orgId_key: { orgId, key: "retry-me" } } }),
    ).toMatchObject({ jobId: accepted.job.id });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(4);
  });
});

describe("createStudioRender", () => {
  it("saves the design as a template (version 1) and renders it, charged once", async () => {
    const orgId = await domain.createOrg(10);
    const accepted = await createStudioRender(
      domain.ctx,
      orgId,
      StudioRenderInput.parse({ design: smallTemplate("#00ff00", "studio") }),
    );
    expect(accepted.templateId).toBeDefined();
    const template = await domain.ctx.prisma.template.findUniqueOrThrow({ where: { id: accepted.templateId! } });
    expect(template).toMatchObject({ orgId, name: "studio", version: 1 });
    expect(await domain.ctx.prisma.templateVersion.count({ where: { templateId: template.id } })).toBe(1);
    expect(accepted.job).toMatchObject({ templateId: template.id, templateVersion: 1, priceCents: 1 });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
  });

  it("refused for money: not even the template is saved", async () => {
    const orgId = await domain.createOrg(0);
    await expect(
      createStudioRender(domain.ctx, orgId, StudioRenderInput.parse({ design: smallTemplate() })),
    ).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(await footprint(orgId)).toEqual({ jobs: 0, charges: 0, refunds: 0, templates: 0 });
  });

  it("an invalid design: ValidationError with the path inside `design`", async () => {
    const orgId = await domain.createOrg(10);
    const design = {
      ...smallTemplate(),
      layers: [{ type: "text", name: "t", x: 0, y: 0, width: 10, height: 10, text: "x", font_family: "Comic Sans" }],
    };
    const error = await createStudioRender(domain.ctx, orgId, StudioRenderInput.parse({ design })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]?.path).toBe("design.layers[0].font_family");
    expect(await footprint(orgId)).toEqual({ jobs: 0, charges: 0, refunds: 0, templates: 0 });
  });
});

describe("createGroupRender", () => {
  it("one group job, one render item per template, each item charged; the group itself is not queued or charged", async () => {
    const orgId = await domain.createOrg(10);
    const a = await domain.createTemplate(orgId);
    const b = await domain.createTemplate(orgId, { width: 1200, height: 630, background: "#000000" });
    const queuedBefore = await domain.queuedRenders();
    const accepted = await createGroupRender(
      domain.ctx,
      orgId,
      GroupRenderInput.parse({ template_ids: [a.id, b.id], scale: 4, format: "jpeg" }),
    );
    expect(accepted.job).toMatchObject({ kind: "group", status: "pending", priceCents: 1 + 2, parentId: null });
    const items = await domain.ctx.prisma.job.findMany({
      where: { parentId: accepted.job.id },
      orderBy: { priceCents: "asc" },
    });
    expect(items.map((i) => [i.kind, i.templateId, i.priceCents])).toEqual([
      ["render", a.id, 1],
      ["render", b.id, 2],
    ]);
    const ledger = await domain.ctx.prisma.ledgerEntry.findMany({ where: { orgId, kind: "CHARGE" } });
    expect(ledger.map((e) => [e.jobId, e.amountCents]).sort()).toEqual(items.map((i) => [i.id, -i.priceCents]).sort());
    expect(await domain.queuedRenders()).toBe(queuedBefore + 2);
    expect(await domain.ctx.renderQueue.queue.getJob(accepted.job.id)).toBeUndefined();
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(7);
  });

  it("refused for money: no group job, no item, no charge, nothing queued", async () => {
    const orgId = await domain.createOrg(1);
    const a = await domain.createTemplate(orgId);
    const b = await domain.createTemplate(orgId);
    const queuedBefore = await domain.queuedRenders();
    await expect(
      createGroupRender(domain.ctx, orgId, GroupRenderInput.parse({ template_ids: [a.id, b.id] })),
    ).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(await footprint(orgId)).toMatchObject({ jobs: 0, charges: 0 });
    expect(await domain.queuedRenders()).toBe(queuedBefore);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(1);
  });

  it("refuses a modification no template of the group has, before paying", async () => {
    const orgId = await domain.createOrg(10);
    const a = await domain.createTemplate(orgId);
    const input = GroupRenderInput.parse({ template_ids: [a.id], modifications: [{ name: "missing", text: "x" }] });
    const error = await createGroupRender(domain.ctx, orgId, input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]?.path).toBe("modifications[0].name");
    expect(await footprint(orgId)).toMatchObject({ jobs: 0, charges: 0 });
  });
});
