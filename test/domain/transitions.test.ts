// The status transitions, without HTTP or a worker: markProcessing, markComplete and markFailed
// against the real database, with the event bus listened to. Each happens at most once; a
// failure refunds exactly once however often and however concurrently it is reported; a late
// duplicate on a final job changes nothing and announces nothing; a group job follows its items.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGroupRender, createRender } from "../../src/jobs/accept.js";
import { markComplete, markFailed, markProcessing } from "../../src/jobs/transitions.js";
import { recordOrgEvents, startDomain, type Domain } from "../helpers/domain.js";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { CreateRenderInput, GroupRenderInput } from "../../src/views/requests.js";

let domain: Domain;
beforeAll(async () => {
  domain = await startDomain();
});
afterAll(() => domain?.close());

const output = (id: string) => ({ outputKey: `renders/${id}.png`, renderMs: 12 });

/** An organisation with `balance` cents, a template and one accepted (pending, charged) render. */
async function acceptedRender(balance = 10) {
  const orgId = await domain.createOrg(balance);
  const template = await domain.createTemplate(orgId);
  const events = await recordOrgEvents(domain.ctx.events, orgId);
  const { job } = await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id }));
  return { orgId, job, events };
}

const ledgerOf = async (jobId: string) =>
  (await domain.ctx.prisma.ledgerEntry.findMany({ where: { jobId }, orderBy: { kind: "asc" } })).map((e) => [
    e.kind,
    e.amountCents,
  ]);

describe("a render's life", () => {
  it("pending -> processing -> complete, written first and announced in that order", async () => {
    const { orgId, job, events } = await acceptedRender();
    const processing = await markProcessing(domain.ctx, job.id);
    expect(processing).toMatchObject({ status: "processing", attempts: 1 });
    expect(processing!.startedAt).toBeInstanceOf(Date);
    const complete = await markComplete(domain.ctx, job.id, output(job.id));
    expect(complete).toMatchObject({
      status: "complete",
      outputKey: `renders/${job.id}.png`,
      renderMs: 12,
      error: null,
    });
    expect(complete!.completedAt).toBeInstanceOf(Date);

    const seen = await events.next(3);
    expect(seen.map((v) => [v.job_id, v.status])).toEqual([
      [job.id, "pending"],
      [job.id, "processing"],
      [job.id, "complete"],
    ]);
    expect(seen[2]).toMatchObject({
      output_url: `${domain.ctx.config.PUBLIC_BASE_URL}/renders/renders/${job.id}.png`,
      render_ms: 12,
    });
    expect(await events.quiet()).toHaveLength(3);
    // Charged once, never refunded.
    expect(await ledgerOf(job.id)).toEqual([["CHARGE", -1]]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
    await events.stop();
  });

  it("a retry counts the attempt, keeps the first start, and announces nothing new", async () => {
    const { job, events } = await acceptedRender();
    const first = await markProcessing(domain.ctx, job.id);
    const retry = await markProcessing(domain.ctx, job.id);
    expect(retry).toMatchObject({ status: "processing", attempts: 2 });
    expect(retry!.startedAt).toEqual(first!.startedAt);
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "processing"]);
    await events.stop();
  });

  it("markFailed truncates a long error to 2000 characters", async () => {
    const { job, events } = await acceptedRender();
    const failed = await markFailed(domain.ctx, job.id, "x".repeat(5000));
    expect(failed!.error).toHaveLength(2000);
    await events.stop();
  });
});

describe("refunds", () => {
  it("a failed render is refunded exactly once, even when the failure is reported twice", async () => {
    const { orgId, job, events } = await acceptedRender(10);
    await markProcessing(domain.ctx, job.id);
    const failed = await markFailed(domain.ctx, job.id, "image host answered 503");
    expect(failed).toMatchObject({ status: "failed", error: "image host answered 503" });
    expect(await markFailed(domain.ctx, job.id, "again")).toBeNull();
    expect(await ledgerOf(job.id)).toEqual([
      ["CHARGE", -1],
      ["REFUND", 1],
    ]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(10);
    expect((await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).error).toBe(
      "image host answered 503",
    );
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "processing", "failed"]);
    await events.stop();
  });

  it("eight concurrent failure reports: one wins, one refund, one failed event", async () => {
    const { orgId, job, events } = await acceptedRender(10);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => markFailed(domain.ctx, job.id, `report ${i}`)),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await ledgerOf(job.id)).toEqual([
      ["CHARGE", -1],
      ["REFUND", 1],
    ]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(10);
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "failed"]);
    await events.stop();
  });

  it("complete and failed racing: exactly one wins, and a refund happens only when failed won", async () => {
    const { orgId, job, events } = await acceptedRender(10);
    await markProcessing(domain.ctx, job.id);
    const [complete, failed] = await Promise.all([
      markComplete(domain.ctx, job.id, output(job.id)),
      markFailed(domain.ctx, job.id, "lost"),
    ]);
    expect([complete, failed].filter((r) => r !== null)).toHaveLength(1);
    const final = await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(final.status).toBe(complete ? "complete" : "failed");
    expect(await ledgerOf(job.id)).toEqual(
      complete
        ? [["CHARGE", -1]]
        : [
            ["CHARGE", -1],
            ["REFUND", 1],
          ],
    );
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(complete ? 9 : 10);
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "processing", final.status]);
    await events.stop();
  });
});

describe("late duplicates on a final job", () => {
  it("change nothing and announce nothing: processing, complete or failed after complete", async () => {
    const { orgId, job, events } = await acceptedRender(10);
    await markProcessing(domain.ctx, job.id);
    await markComplete(domain.ctx, job.id, output(job.id));
    const before = await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: job.id } });

    expect(await markProcessing(domain.ctx, job.id)).toBeNull();
    expect(await markComplete(domain.ctx, job.id, { outputKey: "renders/other.png", renderMs: 99 })).toBeNull();
    expect(await markFailed(domain.ctx, job.id, "late failure")).toBeNull();

    expect(await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).toEqual(before);
    expect(await ledgerOf(job.id)).toEqual([["CHARGE", -1]]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "processing", "complete"]);
    await events.stop();
  });

  it("a failed job stays failed: a late completion is ignored and the refund is not taken back", async () => {
    const { orgId, job, events } = await acceptedRender(10);
    await markFailed(domain.ctx, job.id, "gave up");
    expect(await markProcessing(domain.ctx, job.id)).toBeNull();
    expect(await markComplete(domain.ctx, job.id, output(job.id))).toBeNull();
    expect(await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({
      status: "failed",
      outputKey: null,
      attempts: 0,
    });
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(10);
    expect((await events.quiet()).map((v) => v.status)).toEqual(["pending", "failed"]);
    await events.stop();
  });

  it("an unknown job id is a no-op for every transition", async () => {
    expect(await markProcessing(domain.ctx, "clx_unknown")).toBeNull();
    expect(await markComplete(domain.ctx, "clx_unknown", output("x"))).toBeNull();
    expect(await markFailed(domain.ctx, "clx_unknown", "x")).toBeNull();
  });
});

describe("group jobs follow their items", () => {
  async function acceptedGroup(templates: number, balance = 10) {
    const orgId = await domain.createOrg(balance);
    const ids: string[] = [];
    for (let i = 0; i < templates; i++) ids.push((await domain.createTemplate(orgId)).id);
    const events = await recordOrgEvents(domain.ctx.events, orgId);
    const { job: group } = await createGroupRender(domain.ctx, orgId, GroupRenderInput.parse({ template_ids: ids }));
    // In the group's template order, the order its view lists them in.
    const items = (await domain.ctx.prisma.job.findMany({ where: { parentId: group.id } })).sort(
      (x, y) => ids.indexOf(x.templateId!) - ids.indexOf(y.templateId!),
    );
    return { orgId, group, items, events };
  }

  it("processing with the first item; failed when the last item ends and one failed; only that item refunded", async () => {
    const { orgId, group, items, events } = await acceptedGroup(2);
    const [a, b] = items as [(typeof items)[0], (typeof items)[0]];
    // The group itself is never rendered.
    expect(await markProcessing(domain.ctx, group.id)).toBeNull();

    await markProcessing(domain.ctx, a.id);
    expect((await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: group.id } })).status).toBe("processing");
    await markProcessing(domain.ctx, b.id); // the group is already processing: no second group event
    await markComplete(domain.ctx, a.id, output(a.id));
    expect((await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: group.id } })).status).toBe("processing");
    await markFailed(domain.ctx, b.id, "broken image");

    const final = await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: group.id } });
    expect(final).toMatchObject({ status: "failed", error: "1 of 2 items failed" });
    expect(await ledgerOf(a.id)).toEqual([["CHARGE", -1]]);
    expect(await ledgerOf(b.id)).toEqual([
      ["CHARGE", -1],
      ["REFUND", 1],
    ]);
    expect(await ledgerOf(group.id)).toEqual([]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(9);

    const seen = (await events.quiet()).map((v) => [v.job_id, v.status]);
    expect(seen.filter(([id]) => id === group.id).map(([, s]) => s)).toEqual(["pending", "processing", "failed"]);
    expect(seen.filter(([id]) => id === b.id).map(([, s]) => s)).toEqual(["processing", "failed"]);
    // The group's final event comes after its last item's, and lists every item's outcome.
    expect(seen.findIndex(([id, s]) => id === group.id && s === "failed")).toBeGreaterThan(
      seen.findIndex(([id, s]) => id === b.id && s === "failed"),
    );
    const groupFinal = (await events.quiet()).find((v) => v.job_id === group.id && v.status === "failed")!;
    expect(groupFinal.items?.map((i) => [i.job_id, i.status])).toEqual([
      [a.id, "complete"],
      [b.id, "failed"],
    ]);
    await events.stop();
  });

  it("items finishing at the same time settle the group exactly once", async () => {
    const { orgId, group, items, events } = await acceptedGroup(4);
    for (const item of items) await markProcessing(domain.ctx, item.id);
    await Promise.all(items.map((item) => markComplete(domain.ctx, item.id, output(item.id))));
    expect(await domain.ctx.prisma.job.findUniqueOrThrow({ where: { id: group.id } })).toMatchObject({
      status: "complete",
      error: null,
    });
    const groupEvents = (await events.quiet()).filter((v) => v.job_id === group.id).map((v) => v.status);
    expect(groupEvents).toEqual(["pending", "processing", "complete"]);
    expect(await expectLedgerBalanced(domain.ctx.prisma, orgId)).toBe(6);
    await events.stop();
  });
});
