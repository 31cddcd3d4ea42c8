// The money, without HTTP: debit, charge and refund (src/billing/charges.ts), organisations and
// their top-ups, the ledger, idempotency keys' window, and the database's own guards. After
// every scenario the ledger sums to the balance, and no job is refunded more than it was charged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountSuspendedError,
  debit,
  InsufficientBalanceError,
  recordCharge,
  refundJob,
} from "../../src/billing/charges.js";
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  findIdempotentJob,
  requestFingerprint,
} from "../../src/billing/idempotency.js";
import { accountView, listLedger } from "../../src/billing/ledger.js";
import {
  fundOrganization,
  OrganizationNotFoundError,
  setOrganizationStatus,
  showOrganization,
} from "../../src/billing/organizations.js";
import { createGroupRender, createRender } from "../../src/jobs/accept.js";
import { markComplete, markFailed, markProcessing } from "../../src/jobs/transitions.js";
import { startDomain, type Domain } from "../helpers/domain.js";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { CreateRenderInput, GroupRenderInput } from "../../src/views/requests.js";

let domain: Domain;
beforeAll(async () => {
  domain = await startDomain();
});
afterAll(() => domain?.close());

const prisma = () => domain.ctx.prisma;

async function acceptRender(orgId: string, templateId: string) {
  return (await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: templateId }))).job;
}

/** No job of the organisation was refunded more than it was charged, and never twice. */
async function expectRefundsWithinCharges(orgId: string): Promise<void> {
  const rows = await prisma().ledgerEntry.findMany({ where: { orgId, jobId: { not: null } } });
  const byJob = new Map<string, { charge: number; refund: number; refunds: number }>();
  for (const r of rows) {
    const entry = byJob.get(r.jobId!) ?? { charge: 0, refund: 0, refunds: 0 };
    if (r.kind === "CHARGE") entry.charge += -r.amountCents;
    if (r.kind === "REFUND") {
      entry.refund += r.amountCents;
      entry.refunds++;
    }
    byJob.set(r.jobId!, entry);
  }
  for (const [jobId, e] of byJob) {
    expect(e.refunds, jobId).toBeLessThanOrEqual(1);
    expect(e.refund, jobId).toBeLessThanOrEqual(e.charge);
  }
}

describe("debit", () => {
  it("takes exactly the balance, then refuses the next cent; a refusal inside a transaction undoes the transaction", async () => {
    const orgId = await domain.createOrg(3);
    await prisma().$transaction((tx) => debit(tx, orgId, 3));
    expect((await showOrganization(prisma(), orgId)).balance_cents).toBe(0);
    await expect(
      prisma().$transaction(async (tx) => {
        await tx.organization.update({ where: { id: orgId }, data: { name: "renamed in the refused transaction" } });
        await debit(tx, orgId, 1);
      }),
    ).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(await showOrganization(prisma(), orgId)).toMatchObject({
      balance_cents: 0,
      name: expect.not.stringContaining("renamed"),
    });
  });

  it("refuses a suspended organisation with AccountSuspendedError, and an unknown one as insufficient", async () => {
    const orgId = await domain.createOrg(100);
    await setOrganizationStatus(prisma(), orgId, "SUSPENDED");
    await expect(prisma().$transaction((tx) => debit(tx, orgId, 1))).rejects.toBeInstanceOf(AccountSuspendedError);
    await expect(prisma().$transaction((tx) => debit(tx, "org_unknown", 1))).rejects.toBeInstanceOf(
      InsufficientBalanceError,
    );
    expect((await showOrganization(prisma(), orgId)).balance_cents).toBe(100);
  });
});

describe("charges and refunds", () => {
  it("refundJob gives back exactly the charge, once: a second call returns 0 and moves nothing", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId, { width: 3000, height: 2000, background: "#000000" }); // 6 MP: 2 cents
    const job = await acceptRender(orgId, template.id);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(8);
    expect(await prisma().$transaction((tx) => refundJob(tx, job.id))).toBe(2);
    expect(await prisma().$transaction((tx) => refundJob(tx, job.id))).toBe(0);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(10);
    await expectRefundsWithinCharges(orgId);
  });

  it("concurrent refunds of one job: one refund row, the balance moved once", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const job = await acceptRender(orgId, template.id);
    const refunded = await Promise.all(
      Array.from({ length: 6 }, () => prisma().$transaction((tx) => refundJob(tx, job.id))),
    );
    expect(refunded.sort()).toEqual([0, 0, 0, 0, 0, 1]);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(10);
    await expectRefundsWithinCharges(orgId);
  });

  it("a job never charged (a group job) is never refunded", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const { job: group } = await createGroupRender(
      domain.ctx,
      orgId,
      GroupRenderInput.parse({ template_ids: [template.id] }),
    );
    expect(await prisma().$transaction((tx) => refundJob(tx, group.id))).toBe(0);
    expect(await prisma().$transaction((tx) => refundJob(tx, "clx_unknown"))).toBe(0);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(9);
  });

  it("a charge of 0 cents (a free price table) records the row and refunds nothing", async () => {
    const orgId = await domain.createOrg(0);
    const template = await domain.createTemplate(orgId);
    const job = await createRender(
      { ...domain.ctx, prices: { ...domain.ctx.prices, standardCents: 0 } },
      orgId,
      CreateRenderInput.parse({ template_id: template.id }),
    );
    expect(await prisma().$transaction((tx) => refundJob(tx, job.job.id))).toBe(0);
    expect(
      (await prisma().ledgerEntry.findMany({ where: { jobId: job.job.id } })).map((e) => [e.kind, e.amountCents]),
    ).toEqual([["CHARGE", 0]]);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(0);
  });

  it("a mixed day — renders completed, failed, failed twice, failed concurrently, retried — keeps every invariant", async () => {
    const orgId = await domain.createOrg(20);
    const template = await domain.createTemplate(orgId);
    const jobs = [];
    for (let i = 0; i < 8; i++) jobs.push(await acceptRender(orgId, template.id));
    const [a, b, c, d, e, f, g] = jobs.map((j) => j.id) as [string, string, string, string, string, string, string];
    await markProcessing(domain.ctx, a);
    await markComplete(domain.ctx, a, { outputKey: `renders/${a}.png`, renderMs: 1 });
    await markFailed(domain.ctx, b, "x");
    await markFailed(domain.ctx, c, "x");
    await markFailed(domain.ctx, c, "x again");
    await Promise.all([markFailed(domain.ctx, d, "1"), markFailed(domain.ctx, d, "2"), markFailed(domain.ctx, d, "3")]);
    await markProcessing(domain.ctx, e);
    await markProcessing(domain.ctx, e); // a retry
    await markComplete(domain.ctx, e, { outputKey: `renders/${e}.png`, renderMs: 1 });
    await markFailed(domain.ctx, e, "late duplicate");
    await Promise.all([
      markComplete(domain.ctx, f, { outputKey: `renders/${f}.png`, renderMs: 1 }),
      markFailed(domain.ctx, f, "race"),
    ]);
    await prisma().$transaction((tx) => refundJob(tx, g)); // refunded by hand (an operator's correction)
    await markFailed(domain.ctx, g, "and then failed"); // ...and the failure finds the refund already there
    // jobs[7] stays pending.

    const statuses = await prisma().job.findMany({ where: { orgId }, select: { id: true, status: true } });
    const failed = statuses.filter((s) => s.status === "failed").length;
    const refunds = await prisma().ledgerEntry.count({ where: { orgId, kind: "REFUND" } });
    // Every failed job was refunded (g by hand), nothing else was.
    expect(refunds).toBe(failed);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(20 - 8 + refunds);
    await expectRefundsWithinCharges(orgId);
  });

  it("recordCharge refuses a second charge for one job (unique per job and kind)", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const job = await acceptRender(orgId, template.id);
    await expect(
      prisma().$transaction(async (tx) => {
        await debit(tx, orgId, 1);
        await recordCharge(tx, orgId, job.id, 1);
      }),
    ).rejects.toThrow(/Unique constraint/);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(9);
  });
});

describe("organisations and the ledger", () => {
  it("a new organisation with no balance has no ledger row; top-ups add TOPUP rows", async () => {
    const orgId = await domain.createOrg(0);
    expect(await prisma().ledgerEntry.count({ where: { orgId } })).toBe(0);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(0);
    const funded = await fundOrganization(prisma(), orgId, 25, "invoice 7");
    expect(funded).toMatchObject({ org_id: orgId, balance_cents: 25, status: "ACTIVE" });
    expect(
      (await prisma().ledgerEntry.findMany({ where: { orgId } })).map((e) => [e.kind, e.amountCents, e.note]),
    ).toEqual([["TOPUP", 25, "invoice 7"]]);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(25);
  });

  it("unknown organisations: OrganizationNotFoundError, nothing written", async () => {
    await expect(fundOrganization(prisma(), "org_unknown", 5)).rejects.toBeInstanceOf(OrganizationNotFoundError);
    await expect(setOrganizationStatus(prisma(), "org_unknown", "SUSPENDED")).rejects.toBeInstanceOf(
      OrganizationNotFoundError,
    );
    await expect(showOrganization(prisma(), "org_unknown")).rejects.toBeInstanceOf(OrganizationNotFoundError);
    expect(await prisma().ledgerEntry.count({ where: { orgId: "org_unknown" } })).toBe(0);
  });

  it("the account view and the ledger, newest first, page by page", async () => {
    const orgId = await domain.createOrg(20);
    const template = await domain.createTemplate(orgId);
    for (let i = 0; i < 3; i++) await acceptRender(orgId, template.id);
    expect(await accountView(prisma(), domain.ctx.prices, orgId)).toMatchObject({
      org_id: orgId,
      balance_cents: 17,
      status: "ACTIVE",
      prices: { standard_cents: 1 },
    });
    const seen: { id: string; kind: string; amountCents: number; createdAt: Date }[] = [];
    let cursor: string | undefined;
    do {
      const page = await listLedger(prisma(), orgId, { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(new Set(seen.map((e) => e.id)).size).toBe(4);
    expect(seen.map((e) => [e.kind, e.amountCents]).sort()).toEqual([
      ["CHARGE", -1],
      ["CHARGE", -1],
      ["CHARGE", -1],
      ["TOPUP", 20],
    ]);
    // Newest first (rows made in one millisecond may come in either order: ties go by id).
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.createdAt.getTime()).toBeLessThanOrEqual(seen[i - 1]!.createdAt.getTime());
  });

  it("the database guards the money: no negative balance, no edited or deleted ledger row", async () => {
    const orgId = await domain.createOrg(1);
    await expect(
      prisma().organization.update({ where: { id: orgId }, data: { balanceCents: { decrement: 2 } } }),
    ).rejects.toThrow(/balance_non_negative/);
    const row = await prisma().ledgerEntry.findFirstOrThrow({ where: { orgId } });
    await expect(prisma().ledgerEntry.update({ where: { id: row.id }, data: { amountCents: 1000 } })).rejects.toThrow(
      /append-only/,
    );
    await expect(prisma().ledgerEntry.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(1);
  });
});

describe("idempotency keys", () => {
  const claim = (key: string, input: unknown) => ({ key, fingerprint: requestFingerprint("render", input) });

  it("a key older than 24 hours is forgotten: not replayed, and claimed anew", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const job = await acceptRender(orgId, template.id);
    const old = claim("old-key", { a: 1 });
    await prisma().$executeRaw`
      INSERT INTO "idempotency_keys" ("org_id", "key", "fingerprint", "job_id", "created_at")
      VALUES (${orgId}, ${old.key}, ${old.fingerprint}, ${job.id}, now() - interval '25 hours')`;
    expect(await findIdempotentJob(prisma(), orgId, old)).toBeNull();
    // Even a different request may now use the key.
    const fresh = claim("old-key", { b: 2 });
    expect(await prisma().$transaction((tx) => claimIdempotencyKey(tx, orgId, fresh))).toBeNull();
    const row = await prisma().idempotencyKey.findUniqueOrThrow({ where: { orgId_key: { orgId, key: "old-key" } } });
    expect(row).toMatchObject({ fingerprint: fresh.fingerprint, jobId: null });
  });

  it("within the window: the same request replays its job, another request conflicts", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const job = await acceptRender(orgId, template.id);
    const mine = claim("k", { x: 1, y: [1, { z: 2, a: 3 }] });
    await prisma().$transaction(async (tx) => {
      expect(await claimIdempotencyKey(tx, orgId, mine)).toBeNull();
      await completeIdempotencyKey(tx, orgId, mine.key, job.id);
    });
    // Key order does not matter to the fingerprint; array order does.
    expect(await findIdempotentJob(prisma(), orgId, claim("k", { y: [1, { a: 3, z: 2 }], x: 1 }))).toBe(job.id);
    await expect(findIdempotentJob(prisma(), orgId, claim("k", { x: 1, y: [{ z: 2, a: 3 }, 1] }))).rejects.toThrow(
      /different request/,
    );
    expect(await prisma().$transaction((tx) => claimIdempotencyKey(tx, orgId, mine))).toBe(job.id);
    await expect(prisma().$transaction((tx) => claimIdempotencyKey(tx, orgId, claim("k", { x: 2 })))).rejects.toThrow(
      /different request/,
    );
  });
});
