// Postgres is the record: a job whose queue entry was lost (Redis refused the enqueue, or
// restarted without persistence) is found by the reconciler and rendered; a queue entry that
// failed while the database was away ends the job failed and refunded.
import { once } from "node:events";
import { UnrecoverableError, Worker, type Job as BullJob } from "bullmq";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "./helpers/infra.js";
import { RENDER_QUEUE } from "../src/queue/render-queue.js";
import { createRender } from "../src/jobs/accept.js";
import { markFailed, markProcessing } from "../src/jobs/transitions.js";
import type { RenderQueue } from "../src/queue/render-queue.js";
import { reconcileOnce } from "../src/queue/reconciler.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { socialCard } from "./helpers/fixtures.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";
import { CreateRenderInput } from "../src/views/requests.js";

let api: Stack; // API only: nothing consumes the queue until we start a worker
let org: { orgId: string; apiKey: string };
let templateId: string;
let db: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  // The reconciler scans every unfinished job: give it a database no other test file writes to.
  db = await freshDatabase(inject("databaseUrl"));
  api = await startStack({ DATABASE_URL: db.url }, { api: true, worker: false });
  org = await api.createOrg(1000);
  templateId = (await api.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
});
afterAll(async () => {
  await api?.stop();
  await db?.drop();
});

const reconcilerDeps = (stack: Stack) => ({
  prisma: stack.app.ctx.prisma,
  renderQueue: stack.app.ctx.renderQueue,
  deliverQueue: stack.app.ctx.deliverQueue,
  logger: stack.app.ctx.logger,
  failJob: (id: string, error: string) => markFailed(stack.app.ctx, id, error),
});

describe("reconciler", () => {
  it("re-enqueues an accepted job that no queue holds, and it renders", async () => {
    const accepted = await api.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId });
    expect(accepted.status).toBe(202);
    const id = accepted.body.job_id as string;
    await (await api.app.ctx.renderQueue.queue.getJob(id))!.remove(); // Redis lost it
    expect(await api.app.ctx.renderQueue.queue.getJob(id)).toBeUndefined();

    // Within the grace window a fresh job is left alone (its accept may still be enqueueing).
    expect(await reconcileOnce(reconcilerDeps(api), 60_000)).toEqual({ enqueued: 0, failed: 0 });
    expect(await reconcileOnce(reconcilerDeps(api), 0)).toEqual({ enqueued: 1, failed: 0 });
    expect(await api.app.ctx.renderQueue.queue.getJob(id)).toBeDefined();

    const worker = await startStack(
      { DATABASE_URL: db.url, QUEUE_PREFIX: api.queuePrefix },
      { api: false, worker: true },
    );
    try {
      const done = await waitForFinal(api, org.apiKey, id);
      expect(done.status).toBe("complete");
    } finally {
      await worker.app.stop();
    }
    await expectLedgerBalanced(api.app.ctx.prisma, org.orgId);
  });

  it("ends a job failed (and refunded once) when its queue entry failed but the database was not told", async () => {
    const before = await expectLedgerBalanced(api.app.ctx.prisma, org.orgId);
    const accepted = await api.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId });
    const id = accepted.body.job_id as string;
    await markProcessing(api.app.ctx, id);
    // A worker whose every attempt dies before it can write to the database.
    const failing = new Worker(
      RENDER_QUEUE,
      async () => {
        throw new UnrecoverableError("worker lost its database");
      },
      { connection: { url: api.app.ctx.config.REDIS_URL, maxRetriesPerRequest: null }, prefix: api.queuePrefix },
    );
    try {
      // The worker announces the failure once BullMQ has recorded it.
      const [failed] = (await once(failing, "failed")) as [BullJob];
      expect(failed.id).toBe(id);
      expect((await api.app.ctx.renderQueue.queue.getJob(id))?.failedReason).toBe("worker lost its database");
    } finally {
      await failing.close();
    }
    expect((await api.app.ctx.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe("processing");

    expect(await reconcileOnce(reconcilerDeps(api), 0)).toEqual({ enqueued: 0, failed: 1 });
    const job = await api.app.ctx.prisma.job.findUniqueOrThrow({ where: { id } });
    expect(job.status).toBe("failed");
    expect(job.error).toBe("worker lost its database");
    expect(await expectLedgerBalanced(api.app.ctx.prisma, org.orgId)).toBe(before);

    // Running the repair again changes nothing: no second refund.
    await reconcileOnce(reconcilerDeps(api), 0);
    expect(await markFailed(api.app.ctx, id, "again")).toBeNull();
    expect(await api.app.ctx.prisma.ledgerEntry.count({ where: { jobId: id, kind: "REFUND" } })).toBe(1);
    expect(await expectLedgerBalanced(api.app.ctx.prisma, org.orgId)).toBe(before);
  });

  it("admits a job whose admission to the queue never ran (Redis refused it after the commit), and it renders", async () => {
    const refusing = { enqueue: () => Promise.reject(new Error("Redis is away")) } as unknown as RenderQueue;
    const accepted = await createRender(
      { ...api.app.ctx, renderQueue: refusing },
      org.orgId,
      CreateRenderInput.parse({ template_id: templateId }),
    );
    const id = accepted.job.id;
    expect(await api.app.ctx.prisma.job.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: "pending",
      queuedAt: null,
    });
    expect(await api.app.ctx.renderQueue.queue.getJob(id)).toBeUndefined();

    // Admission is not a repair of something possibly in flight: no grace window.
    expect(await reconcileOnce(reconcilerDeps(api), 60_000)).toEqual({ enqueued: 1, failed: 0 });
    expect((await api.app.ctx.prisma.job.findUniqueOrThrow({ where: { id } })).queuedAt).not.toBeNull();
    expect(await api.app.ctx.renderQueue.queue.getJob(id)).toBeDefined();

    const worker = await startStack(
      { DATABASE_URL: db.url, QUEUE_PREFIX: api.queuePrefix },
      { api: false, worker: true },
    );
    try {
      expect((await waitForFinal(api, org.apiKey, id)).status).toBe("complete");
    } finally {
      await worker.app.stop();
    }
    await expectLedgerBalanced(api.app.ctx.prisma, org.orgId);
  });
});
