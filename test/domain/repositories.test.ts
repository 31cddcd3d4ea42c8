// The repository queries whose rule is in the SQL itself: the conditional debit, insert-once
// ledger rows, the status guards of the job transitions, the row lock that serialises group
// settling, the idempotency window, the version bump and "live" (not deleted) rows.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  creditBalance,
  debitBalance,
  deleteExpiredIdempotencyKey,
  findJobLedgerEntry,
  findLiveIdempotencyKey,
  findOrganization,
  insertIdempotencyKey,
  insertLedgerEntry,
  insertLedgerEntryOnce,
} from "../../src/billing/billing-repository.js";
import { setOrganizationStatus } from "../../src/billing/organizations.js";
import type { Db } from "../../src/db/client.js";
import { newId } from "../../src/db/ids.js";
import { sqlOver, type SqlQuery } from "../../src/db/sql.js";
import {
  acceptPaidRenders,
  claimJobForProcessing,
  completeUnfinishedJob,
  encodePaidRender,
  failUnfinishedJob,
  findJobForOrg,
  getJobById,
  insertJob,
  lockJob,
  settleUnfinishedGroupJob,
  startGroupJob,
} from "../../src/jobs/job-repository.js";
import {
  bumpTemplateVersion,
  findLiveTemplateIds,
  softDeleteTemplate,
} from "../../src/templates/template-repository.js";
import { smallTemplate, startDomain, type Domain } from "../helpers/domain.js";

let domain: Domain;
beforeAll(async () => {
  domain = await startDomain();
});
afterAll(() => domain?.close());

const db = (): Db => domain.ctx.prisma;
/** The transitions' statements go to the pg pool directly (src/db/sql.ts). */
const sql = (): SqlQuery => domain.ctx.sql;
const balanceOf = async (orgId: string) => (await findOrganization(db(), orgId))!.balanceCents;

/** A bare job row (no charge), a render unless said otherwise. */
const newJob = (orgId: string, extra: { kind?: "render" | "group"; parentId?: string } = {}) =>
  insertJob(db(), { id: newId("clx"), orgId, input: {}, format: "png", priceCents: 1, ...extra });

describe("billing repository", () => {
  it("debitBalance: takes at most the balance, never from a suspended or unknown organisation", async () => {
    const orgId = await domain.createOrg(5);
    expect(await debitBalance(db(), orgId, 6)).toBe(false);
    expect(await balanceOf(orgId)).toBe(5);
    expect(await debitBalance(db(), orgId, 5)).toBe(true);
    expect(await balanceOf(orgId)).toBe(0);
    expect(await debitBalance(db(), orgId, 0)).toBe(true); // a free render passes at 0
    expect(await debitBalance(db(), orgId, 1)).toBe(false);

    const suspended = await domain.createOrg(5);
    await setOrganizationStatus(domain.ctx.prisma, suspended, "SUSPENDED");
    expect(await debitBalance(db(), suspended, 1)).toBe(false);
    expect(await balanceOf(suspended)).toBe(5);
    expect(await debitBalance(db(), "org_unknown", 0)).toBe(false);
  });

  it("debitBalance: concurrent debits in their own transactions never spend a cent twice", async () => {
    const orgId = await domain.createOrg(3);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => domain.ctx.prisma.$transaction((tx) => debitBalance(tx, orgId, 1))),
    );
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await balanceOf(orgId)).toBe(0);
  });

  it("creditBalance reports an unknown organisation", async () => {
    const orgId = await domain.createOrg(0);
    expect(await creditBalance(db(), orgId, 4)).toBe(true);
    expect(await balanceOf(orgId)).toBe(4);
    expect(await creditBalance(db(), "org_unknown", 4)).toBe(false);
  });

  it("insertLedgerEntryOnce: one row per job and kind, whoever asks second gets false", async () => {
    const orgId = await domain.createOrg(0);
    const job = await newJob(orgId);
    await insertLedgerEntry(db(), { orgId, jobId: job.id, kind: "CHARGE", amountCents: -1 });
    const refunds = await Promise.all(
      Array.from({ length: 4 }, () =>
        insertLedgerEntryOnce(db(), { orgId, jobId: job.id, kind: "REFUND", amountCents: 1, note: "render failed" }),
      ),
    );
    expect(refunds.filter(Boolean)).toHaveLength(1);
    expect(await findJobLedgerEntry(db(), job.id, "REFUND")).toMatchObject({ amountCents: 1, note: "render failed" });
    expect(await findJobLedgerEntry(db(), job.id, "CHARGE")).toMatchObject({ amountCents: -1 });
    expect(await domain.ctx.prisma.ledgerEntry.count({ where: { jobId: job.id } })).toBe(2);
  });

  it("idempotency keys: insert once per organisation; the window decides what is live and what expires", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    expect(await insertIdempotencyKey(db(), orgId, "k", "f1")).toBe(true);
    expect(await insertIdempotencyKey(db(), orgId, "k", "f2")).toBe(false);
    expect(await insertIdempotencyKey(db(), other, "k", "f3")).toBe(true);
    expect(await findLiveIdempotencyKey(db(), orgId, "k", 24)).toEqual({ fingerprint: "f1", jobId: null });

    await domain.ctx.prisma
      .$executeRaw`UPDATE "idempotency_keys" SET "created_at" = now() - interval '3 hours' WHERE "org_id" = ${orgId}`;
    expect(await findLiveIdempotencyKey(db(), orgId, "k", 4)).not.toBeNull();
    expect(await findLiveIdempotencyKey(db(), orgId, "k", 2)).toBeNull();
    await deleteExpiredIdempotencyKey(db(), orgId, "k", 4); // not expired yet: kept
    expect(await domain.ctx.prisma.idempotencyKey.count({ where: { orgId } })).toBe(1);
    await deleteExpiredIdempotencyKey(db(), orgId, "k", 2);
    expect(await domain.ctx.prisma.idempotencyKey.count({ where: { orgId } })).toBe(0);
    expect(await domain.ctx.prisma.idempotencyKey.count({ where: { orgId: other } })).toBe(1);
  });
});

describe("job repository", () => {
  it("findJobForOrg: another organisation's job does not exist", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    const job = await newJob(orgId);
    expect((await findJobForOrg(db(), orgId, job.id))?.id).toBe(job.id);
    expect(await findJobForOrg(db(), other, job.id)).toBeNull();
    expect(await findJobForOrg(db(), orgId, "clx_unknown")).toBeNull();
  });

  it("claimJobForProcessing: renders only, unfinished only; counts attempts and keeps the first start", async () => {
    const orgId = await domain.createOrg(0);
    const job = await newJob(orgId);
    const first = await claimJobForProcessing(sql(), job.id);
    // The row as the statement left it: every column, exactly as Prisma reads it.
    expect(first).toEqual(await getJobById(db(), job.id));
    expect(first).toMatchObject({ status: "processing", attempts: 1 });
    const second = await claimJobForProcessing(sql(), job.id);
    expect(second).toEqual(await getJobById(db(), job.id));
    expect(second!.attempts).toBe(2);
    expect(second!.startedAt).toEqual(first!.startedAt);

    expect(await completeUnfinishedJob(sql(), job.id, { outputKey: "renders/x.png", renderMs: 5 })).not.toBeNull();
    expect(await claimJobForProcessing(sql(), job.id)).toBeNull();
    expect((await getJobById(db(), job.id)).attempts).toBe(2);

    const group = await newJob(orgId, { kind: "group" });
    expect(await claimJobForProcessing(sql(), group.id)).toBeNull();
    expect(await claimJobForProcessing(sql(), "clx_unknown")).toBeNull();
  });

  it("complete and fail only an unfinished job; completing clears an earlier attempt's error", async () => {
    const orgId = await domain.createOrg(0);
    const a = await newJob(orgId);
    await domain.ctx.prisma.job.update({ where: { id: a.id }, data: { error: "attempt 1 timed out" } });
    const complete = await completeUnfinishedJob(sql(), a.id, { outputKey: "renders/a.png", renderMs: 5 });
    expect(complete).toEqual(await getJobById(db(), a.id));
    expect(complete).toMatchObject({ status: "complete", error: null, outputKey: "renders/a.png", renderMs: 5 });
    expect(complete!.completedAt).toBeInstanceOf(Date);
    expect(await failUnfinishedJob(sql(), a.id, "late")).toBeNull();
    expect(await completeUnfinishedJob(sql(), a.id, { outputKey: "renders/b.png", renderMs: 9 })).toBeNull();
    expect(await getJobById(db(), a.id)).toMatchObject({ status: "complete", outputKey: "renders/a.png" });

    const b = await newJob(orgId);
    const failed = await failUnfinishedJob(sql(), b.id, "broken");
    expect(failed).toEqual(await getJobById(db(), b.id));
    expect(failed).toMatchObject({ status: "failed", error: "broken" });
    expect(failed!.completedAt).toBeInstanceOf(Date);
    expect(await failUnfinishedJob(sql(), b.id, "again")).toBeNull();
    // Never charged: nothing refunded.
    expect(await domain.ctx.prisma.ledgerEntry.count({ where: { jobId: b.id } })).toBe(0);
  });

  it("group jobs: started once (pending only), settled once, complete or failed with the reason", async () => {
    const orgId = await domain.createOrg(0);
    const group = await newJob(orgId, { kind: "group" });
    const started = await startGroupJob(db(), group.id);
    expect(started).toEqual(await getJobById(db(), group.id));
    expect(started).toMatchObject({ status: "processing" });
    expect(await startGroupJob(db(), group.id)).toBeNull();
    const settled = await settleUnfinishedGroupJob(db(), group.id, "1 of 2 items failed");
    expect(settled).toEqual(await getJobById(db(), group.id));
    expect(settled).toMatchObject({ status: "failed", error: "1 of 2 items failed" });
    expect(await settleUnfinishedGroupJob(db(), group.id, null)).toBeNull();

    const fine = await newJob(orgId, { kind: "group" });
    expect(await settleUnfinishedGroupJob(db(), fine.id, null)).toMatchObject({ status: "complete", error: null });
    expect(await getJobById(db(), fine.id)).toMatchObject({ status: "complete", error: null });
    expect(await startGroupJob(db(), fine.id)).toBeNull();
  });

  it("final transitions in the standalone scope leave an item of a group alone (its group is settled in a transaction)", async () => {
    const orgId = await domain.createOrg(0);
    const group = await newJob(orgId, { kind: "group" });
    const item = await newJob(orgId, { parentId: group.id });
    expect(
      await completeUnfinishedJob(sql(), item.id, { outputKey: "renders/i.png", renderMs: 1 }, "standalone"),
    ).toBeNull();
    expect(await failUnfinishedJob(sql(), item.id, "broken", "standalone")).toBeNull();
    expect(await getJobById(db(), item.id)).toMatchObject({ status: "pending" });
    // The same statement through Prisma (inside the transaction that settles the group): the same row.
    const failed = await failUnfinishedJob(sqlOver(db()), item.id, "broken", "any");
    expect(failed).toMatchObject({ status: "failed", parentId: group.id });
    expect(failed).toEqual(await getJobById(db(), item.id));
  });

  it("failUnfinishedJob refunds the charge in the same statement, once; a refund already there is not paid again", async () => {
    const charged = async (orgId: string, cents: number) => {
      const job = await newJob(orgId);
      expect(await debitBalance(db(), orgId, cents)).toBe(true);
      await insertLedgerEntry(db(), { orgId, jobId: job.id, kind: "CHARGE", amountCents: -cents });
      return job;
    };
    const orgId = await domain.createOrg(10);
    const a = await charged(orgId, 3);
    const reports = await Promise.all(
      Array.from({ length: 4 }, (_, i) => failUnfinishedJob(sql(), a.id, `report ${i}`)),
    );
    expect(reports.filter((r) => r !== null)).toHaveLength(1);
    expect(await findJobLedgerEntry(db(), a.id, "REFUND")).toMatchObject({
      orgId,
      amountCents: 3,
      note: "render failed",
    });
    expect(await balanceOf(orgId)).toBe(10);

    // Refunded by hand first (an operator's correction): failing it later credits nothing more.
    const b = await charged(orgId, 2);
    await insertLedgerEntry(db(), { orgId, jobId: b.id, kind: "REFUND", amountCents: 2, note: "by hand" });
    await creditBalance(db(), orgId, 2);
    expect(await failUnfinishedJob(sql(), b.id, "late")).toMatchObject({ status: "failed" });
    expect(await findJobLedgerEntry(db(), b.id, "REFUND")).toMatchObject({ note: "by hand" });
    expect(await balanceOf(orgId)).toBe(10);
    expect(await domain.ctx.prisma.ledgerEntry.count({ where: { orgId, kind: "REFUND" } })).toBe(2);
  });

  it("acceptPaidRenders: debit, jobs and CHARGE rows all or none, from the current version of a live template only", async () => {
    const orgId = await domain.createOrg(5);
    const other = await domain.createOrg(100);
    const template = await domain.createTemplate(orgId);
    const theirs = await domain.createTemplate(other);
    const render = (templateId: string, priceCents: number, templateVersion = 1) => {
      const id = newId("clx");
      return {
        id,
        encoded: encodePaidRender({
          id,
          ledgerId: newId("led"),
          templateId,
          templateVersion,
          input: { modifications: [], format: "png", quality: null, scale: 1, request_id: null },
          document: { width: 40, height: 20, background: "#ff0000", layers: [] },
          format: "png",
          priceCents,
          webhookUrl: null,
          webhookStatus: null,
          sendTo: null,
          sendToStatus: null,
        }),
      };
    };
    const jobsOf = () => domain.ctx.prisma.job.count({ where: { orgId } });

    const two = [render(template.id, 2), render(template.id, 3)];
    const accepted = await acceptPaidRenders(
      db(),
      orgId,
      two.map((r) => r.encoded),
    );
    expect(accepted).toMatchObject({ accepted: true, current: 2 });
    expect(accepted.createdAt).toBeInstanceOf(Date);
    expect(await balanceOf(orgId)).toBe(0);
    for (const [r, cents] of [
      [two[0]!, 2],
      [two[1]!, 3],
    ] as const) {
      expect(await getJobById(db(), r.id)).toMatchObject({
        orgId,
        status: "pending",
        kind: "render",
        templateId: template.id,
        priceCents: cents,
        createdAt: accepted.createdAt,
      });
      expect(await findJobLedgerEntry(db(), r.id, "CHARGE")).toMatchObject({ orgId, amountCents: -cents });
    }

    // Short by a cent: nothing written. Then funded, but one render of another organisation's
    // template, an old version or a deleted template spoils the batch: nothing written either.
    expect(await acceptPaidRenders(db(), orgId, [render(template.id, 1).encoded])).toMatchObject({
      accepted: false,
      current: 1,
    });
    await creditBalance(db(), orgId, 10);
    await insertLedgerEntry(db(), { orgId, kind: "TOPUP", amountCents: 10 });
    expect(
      await acceptPaidRenders(db(), orgId, [render(template.id, 1).encoded, render(theirs.id, 1).encoded]),
    ).toMatchObject({ accepted: false, current: 1 });
    expect(await acceptPaidRenders(db(), orgId, [render(template.id, 1, 2).encoded])).toMatchObject({
      accepted: false,
      current: 0,
    });
    await setOrganizationStatus(domain.ctx.prisma, orgId, "SUSPENDED");
    expect(await acceptPaidRenders(db(), orgId, [render(template.id, 1).encoded])).toMatchObject({
      accepted: false,
      current: 1,
    });
    await setOrganizationStatus(domain.ctx.prisma, orgId, "ACTIVE");
    await softDeleteTemplate(db(), orgId, template.id);
    expect(await acceptPaidRenders(db(), orgId, [render(template.id, 1).encoded])).toMatchObject({
      accepted: false,
      current: 0,
    });
    expect(await jobsOf()).toBe(2);
    expect(await balanceOf(orgId)).toBe(10);
  });

  it("lockJob: a second transaction waits for the first to end before it holds the row", async () => {
    const orgId = await domain.createOrg(0);
    const job = await newJob(orgId);
    const order: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const firstLocked = new Promise<void>((r) => (locked = r));
    // Generous transaction timeouts: the test, not Prisma's 5 s default, decides when they end.
    const first = domain.ctx.prisma.$transaction(
      async (tx) => {
        await lockJob(tx, job.id);
        locked();
        await released;
        order.push("first done");
      },
      { timeout: 60_000 },
    );
    await firstLocked;
    let secondPid = 0;
    const second = domain.ctx.prisma.$transaction(
      async (tx) => {
        secondPid = (await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
        await lockJob(tx, job.id);
        order.push("second locked");
      },
      { timeout: 60_000 },
    );
    // The second transaction's backend is waiting on the row lock, not done.
    await expect
      .poll(
        async () => {
          if (!secondPid) return null;
          const rows = await domain.ctx.prisma.$queryRaw<
            { wait: string | null }[]
          >`SELECT "wait_event_type" AS wait FROM pg_stat_activity WHERE pid = ${secondPid}`;
          return rows[0]?.wait ?? null;
        },
        { timeout: 20_000 },
      )
      .toBe("Lock");
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first done", "second locked"]);
  });
});

describe("template repository", () => {
  it("bumpTemplateVersion: live templates of the organisation only; the name stays when none is given", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    const template = await domain.createTemplate(orgId, smallTemplate("#ff0000", "named"));
    const { name: _n, ...document } = smallTemplate("#00ff00");
    expect(await bumpTemplateVersion(db(), orgId, template.id, { name: undefined, document })).toEqual({
      version: 2,
      name: "named",
    });
    expect(await bumpTemplateVersion(db(), orgId, template.id, { name: "renamed", document })).toEqual({
      version: 3,
      name: "renamed",
    });
    expect(await bumpTemplateVersion(db(), other, template.id, { name: undefined, document })).toBeNull();
    expect(await softDeleteTemplate(db(), orgId, template.id)).toBe(true);
    expect(await softDeleteTemplate(db(), orgId, template.id)).toBe(false);
    expect(await bumpTemplateVersion(db(), orgId, template.id, { name: undefined, document })).toBeNull();
  });

  it("findLiveTemplateIds: leaves out deleted and foreign templates and unknown ids", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    const live = await domain.createTemplate(orgId);
    const gone = await domain.createTemplate(orgId);
    const theirs = await domain.createTemplate(other);
    await softDeleteTemplate(db(), orgId, gone.id);
    expect(await findLiveTemplateIds(db(), orgId, [live.id, gone.id, theirs.id, "tpl_unknown"])).toEqual(
      new Set([live.id]),
    );
  });
});
