// Output retention (OUTPUT_RETENTION_DAYS) over the real stack: jobs are made old by backdating
// completed_at in the database and a sweep pass is run directly (no timer, no sleep). An old
// output is deleted from storage and recorded; the job is still listed, its view says
// output_expired_at, and its output_url answers 410 JSON. Young outputs and fonts stay; two sweeps
// at once delete each output once; a group's items go too; a send_to owed after retention fails
// saying why; with signed links, the expired output's link is the API's and answers 410 too.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliverSendTo } from "../src/delivery/deliver.js";
import { sweepOnce, type RetentionDeps } from "../src/storage/retention.js";
import { smallTemplate } from "./helpers/domain.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

// Far past anything another test file could backdate a job by, so one sweep here touches only ours.
const DAYS = 900;
const EXPIRED = { error: `output expired: deleted after ${DAYS} days retention` };

let stack: Stack;
let apiKey: string;
let templateId: string;

beforeAll(async () => {
  stack = await startStack({ OUTPUT_RETENTION_DAYS: String(DAYS) });
  ({ apiKey } = await stack.createOrg(1000));
  templateId = (await stack.api(apiKey, "POST", "/api/v1/templates", smallTemplate())).body.template_id;
});
afterAll(() => stack?.stop());

async function render(s: Stack = stack, key = apiKey, tpl = templateId) {
  const accepted = await s.api(key, "POST", "/api/v1/create", { template_id: tpl });
  expect(accepted.status).toBe(202);
  const done = await waitForFinal(s, key, accepted.body.job_id);
  expect(done.status).toBe("complete");
  return done as { job_id: string; output_url: string; completed_at: string };
}

/** Makes a job (and, for a group, its items) look completed `days` days ago. */
async function age(s: Stack, jobId: string, days: number) {
  await s.app.ctx.prisma.$executeRaw`
    UPDATE "jobs" SET "completed_at" = now() - make_interval(days => ${days}::int)
    WHERE "id" = ${jobId} OR "parent_id" = ${jobId}`;
}

const stored = async (s: Stack, jobId: string) => (await s.app.ctx.storage.get(`${jobId}.png`)) !== null;

async function fetchJson(url: string) {
  const res = await fetch(url);
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    cacheControl: res.headers.get("cache-control"),
    body: res.headers.get("content-type")?.includes("json") ? await res.json() : null,
  };
}

/** The stack's storage, counting deletes: what the sweeps really asked storage to remove. */
function countingDeps(s: Stack, deleted: string[]): RetentionDeps {
  const ctx = s.app.ctx;
  return {
    prisma: ctx.prisma,
    logger: ctx.logger,
    storage: {
      delete: async (key) => {
        deleted.push(key);
        await ctx.storage.delete(key);
      },
    },
  };
}

describe("retention", () => {
  it("deletes an old output, keeps the job listed with output_expired_at, and its output_url answers 410 JSON", async () => {
    const old = await render();
    expect((await fetch(old.output_url)).status).toBe(200);
    await age(stack, old.job_id, DAYS + 1);

    const deleted: string[] = [];
    expect(await sweepOnce(countingDeps(stack, deleted), { days: DAYS })).toBeGreaterThanOrEqual(1);
    expect(deleted).toContain(`${old.job_id}.png`);
    expect(await stored(stack, old.job_id)).toBe(false);

    const view = await stack.api(apiKey, "GET", `/api/v1/create/${old.job_id}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ job_id: old.job_id, status: "complete", output_url: old.output_url });
    expect(Date.parse(view.body.output_expired_at)).toBeGreaterThan(Date.now() - 60_000);
    const listed = await stack.api(apiKey, "GET", `/api/v1/create?limit=100`);
    if (listed.status === 200) expect(JSON.stringify(listed.body)).toContain(old.job_id);

    const gone = await fetchJson(old.output_url);
    expect(gone.status).toBe(410);
    expect(gone.type).toContain("application/json");
    expect(gone.body).toEqual({ ...EXPIRED, output_expired_at: view.body.output_expired_at });
    // No cache may keep the 410 (or a 404) in place of an image.
    expect(gone.cacheControl).toBe("no-store");

    // Idempotent: a second pass finds nothing of ours left to do.
    const again: string[] = [];
    await sweepOnce(countingDeps(stack, again), { days: DAYS });
    expect(again).not.toContain(`${old.job_id}.png`);

    // A key that never existed is still 404, not 410.
    expect((await fetchJson(`${stack.baseUrl}/renders/clx_neverexisted000000000.png`)).status).toBe(404);
  });

  it("never deletes the output of a job younger than N days, nor a font, nor a key that is not an output", async () => {
    const young = await render();
    await age(stack, young.job_id, DAYS - 1);
    const fontKey = `fonts/fnt_${randomBytes(8).toString("hex")}.ttf`;
    await stack.app.ctx.storage.put(fontKey, Buffer.from("font bytes"), { contentType: "font/ttf" });
    // A complete, old job whose output_key names a font (a bug or a hand-edited row): not an output.
    const odd = await render();
    await stack.app.ctx.prisma.$executeRaw`UPDATE "jobs" SET "output_key" = ${fontKey} WHERE "id" = ${odd.job_id}`;
    await age(stack, odd.job_id, DAYS + 10);

    const deleted: string[] = [];
    await sweepOnce(countingDeps(stack, deleted), { days: DAYS });
    expect(deleted).not.toContain(`${young.job_id}.png`);
    expect(deleted).not.toContain(fontKey);
    expect(await stored(stack, young.job_id)).toBe(true);
    expect((await fetch(young.output_url)).status).toBe(200);
    expect((await stack.app.ctx.storage.get(fontKey)) !== null).toBe(true);
    const view = await stack.api(apiKey, "GET", `/api/v1/create/${young.job_id}`);
    expect(view.body.output_expired_at).toBeUndefined();
    const oddRow = await stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: odd.job_id } });
    expect(oddRow.outputDeletedAt).toBeNull();
  });

  it("two sweeps at once delete each output once", async () => {
    const jobs = await Promise.all([render(), render(), render()]);
    for (const j of jobs) await age(stack, j.job_id, DAYS + 2);
    const deleted: string[] = [];
    // Batches of one, so the two passes interleave claim by claim.
    const deps = countingDeps(stack, deleted);
    const counts = await Promise.all([
      sweepOnce(deps, { days: DAYS, batch: 1 }),
      sweepOnce(deps, { days: DAYS, batch: 1 }),
    ]);
    for (const j of jobs) {
      expect(deleted.filter((k) => k === `${j.job_id}.png`)).toHaveLength(1);
      expect(await stored(stack, j.job_id)).toBe(false);
    }
    expect(counts[0] + counts[1]).toBe(deleted.length);
    const rows = await stack.app.ctx.prisma.job.findMany({ where: { id: { in: jobs.map((j) => j.job_id) } } });
    expect(rows.every((r) => r.outputDeletedAt !== null)).toBe(true);
  });

  it("deletes a group job's items' outputs; the group and each item say so and their links answer 410", async () => {
    const second = (await stack.api(apiKey, "POST", "/api/v1/templates", smallTemplate("#00ff00", "second"))).body
      .template_id;
    const accepted = await stack.api(apiKey, "POST", "/api/v1/design-groups/create", {
      template_ids: [templateId, second],
    });
    expect(accepted.status).toBe(202);
    const group = await waitForFinal(stack, apiKey, accepted.body.job_id);
    expect(group.status).toBe("complete");
    expect(group.output_urls).toHaveLength(2);
    await age(stack, group.job_id, DAYS + 3);

    await sweepOnce(countingDeps(stack, []), { days: DAYS });
    const view = (await stack.api(apiKey, "GET", `/api/v1/create/${group.job_id}`)).body;
    expect(view.output_urls).toEqual(group.output_urls);
    expect(typeof view.output_expired_at).toBe("string");
    for (const item of view.items) {
      expect(typeof item.output_expired_at).toBe("string");
      expect(await stored(stack, item.job_id)).toBe(false);
      expect(await fetchJson(item.output_url)).toMatchObject({ status: 410, body: EXPIRED });
    }
  });

  it("a send_to owed after its output was deleted fails, saying why", async () => {
    const old = await render();
    await age(stack, old.job_id, DAYS + 1);
    await sweepOnce(countingDeps(stack, []), { days: DAYS });
    // As if its send_to were still owed (queued again by the reconciler, say). The check comes
    // before the destination is read, so any stored value stands for it here.
    await stack.app.ctx.prisma.job.update({
      where: { id: old.job_id },
      data: { sendTo: "v1:unused", sendToStatus: "pending" },
    });
    await deliverSendTo(stack.app.ctx, old.job_id, { number: 1, max: 3 }, async () => {});
    const row = await stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: old.job_id } });
    expect(row.sendToStatus).toBe("failed");
    expect(row.sendToError).toBe(EXPIRED.error);
    const view = (await stack.api(apiKey, "GET", `/api/v1/create/${old.job_id}`)).body;
    expect(view).toMatchObject({ send_to_status: "failed", send_to_error: EXPIRED.error });
  });
});

describe("retention with signed links", () => {
  let signed: Stack;
  let key: string;
  let tpl: string;
  beforeAll(async () => {
    signed = await startStack({ OUTPUT_LINKS: "signed", OUTPUT_RETENTION_DAYS: String(DAYS) });
    ({ apiKey: key } = await signed.createOrg(100));
    tpl = (await signed.api(key, "POST", "/api/v1/templates", smallTemplate())).body.template_id;
  });
  afterAll(() => signed?.stop());

  it("the expired output's signed link answers 410; without a signature, 403", async () => {
    const old = await render(signed, key, tpl);
    await age(signed, old.job_id, DAYS + 1);
    await sweepOnce(countingDeps(signed, []), { days: DAYS });
    const view = (await signed.api(key, "GET", `/api/v1/create/${old.job_id}`)).body;
    expect(view.output_url).toContain("signature=");
    expect(await fetchJson(view.output_url)).toMatchObject({ status: 410, body: EXPIRED });
    const bare = view.output_url.split("?")[0];
    expect(await fetchJson(bare)).toMatchObject({ status: 403, body: { error: "signature missing" } });
  });
});

describe("the sweeper in a worker process", () => {
  let swept: Stack;
  afterAll(() => swept?.stop());

  it("runs by itself every OUTPUT_RETENTION_INTERVAL_MS when OUTPUT_RETENTION_DAYS is set", async () => {
    swept = await startStack({ OUTPUT_RETENTION_DAYS: String(DAYS), OUTPUT_RETENTION_INTERVAL_MS: "1000" });
    const { apiKey: key } = await swept.createOrg(100);
    const tpl = (await swept.api(key, "POST", "/api/v1/templates", smallTemplate())).body.template_id;
    const old = await render(swept, key, tpl);
    await age(swept, old.job_id, DAYS + 1);
    const view = await until(
      async () => (await swept.api(key, "GET", `/api/v1/create/${old.job_id}`)).body,
      (body) => typeof body?.output_expired_at === "string",
      { what: "the sweeper to delete the old output" },
    );
    expect(view.output_url).toBe(old.output_url);
    expect(await stored(swept, old.job_id)).toBe(false);
  });
});
