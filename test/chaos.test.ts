// Crash and restart: render workers killed with SIGKILL mid-render again and again, Redis
// restarted mid-run, a webhook receiver that is down for its first attempts. Nothing accepted is
// lost, nothing is charged twice, the ledger still balances. `npm test` runs a short version;
// `npm run test:chaos` runs it at full size (CHAOS_JOBS=300, CHAOS_KILLS=10).
import { spawn, type ChildProcess as NodeChild } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWebhookReceiver } from "./helpers/fake-destinations.js";
import { startImageHost, type ImageHost } from "./helpers/image-host.js";
import { freePort } from "./helpers/infra.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { ROOT, startProcess, type ChildProcess } from "./helpers/run.js";
import { startStack, type Stack } from "./helpers/stack.js";
import { until, waitForOrgSettled, waitForQueuesIdle } from "./helpers/wait.js";

const JOBS = Number(process.env.CHAOS_JOBS ?? 40);
const KILLS = Number(process.env.CHAOS_KILLS ?? 3);
const LOCK_MS = 2000;

let images: ImageHost;
let imageUrl: string;

beforeAll(async () => {
  // The photo host holds each request until the test releases it, so a kill provably lands
  // mid-render (see the kill loop); afterwards it answers at once.
  const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#cc6600" } })
    .jpeg()
    .toBuffer();
  images = await startImageHost(photo, { contentType: "image/jpeg", holding: true });
  imageUrl = images.url;
});
afterAll(() => images?.close());

const card = {
  width: 200,
  height: 100,
  background: "#101010",
  layers: [{ type: "image", name: "photo", width: 200, height: 100 }],
};

/** Every job final with a reason, charged exactly once, refunded only when failed; ledger balanced. */
async function expectNothingLost(
  stack: Stack,
  orgId: string,
  accepted: string[],
): Promise<{ complete: number; failed: number }> {
  const jobs = await stack.app.ctx.prisma.job.findMany({ where: { orgId } });
  expect(jobs.map((j) => j.id).sort()).toEqual([...accepted].sort());
  const ledger = await stack.app.ctx.prisma.ledgerEntry.findMany({ where: { orgId, jobId: { not: null } } });
  for (const job of jobs) {
    expect(["complete", "failed"]).toContain(job.status);
    if (job.status === "failed") expect(job.error).toBeTruthy();
    const rows = ledger
      .filter((l) => l.jobId === job.id)
      .map((l) => l.kind)
      .sort();
    expect(rows).toEqual(job.status === "failed" ? ["CHARGE", "REFUND"] : ["CHARGE"]);
  }
  await expectLedgerBalanced(stack.app.ctx.prisma, orgId);
  return {
    complete: jobs.filter((j) => j.status === "complete").length,
    failed: jobs.filter((j) => j.status === "failed").length,
  };
}

describe("render workers killed mid-render", () => {
  it(
    `${JOBS} jobs, ${KILLS} SIGKILLs: every job ends complete or failed with a reason, each charged once`,
    async () => {
      const api = await startStack({ RATE_LIMIT_MAX: "0" }, { api: true, worker: false });
      const storage = path.join(ROOT, "data", `chaos-${api.queuePrefix}`);
      const env = {
        DATABASE_URL: inject("databaseUrl"),
        REDIS_URL: inject("redisUrl"),
        QUEUE_PREFIX: api.queuePrefix,
        STORAGE_DIR: storage,
        ALLOW_PRIVATE_NETWORKS: "true",
        RENDER_LOCK_MS: String(LOCK_MS),
        RENDER_CONCURRENCY: "2",
        RECONCILE_INTERVAL_MS: "1000",
        SECRETS_KEY: api.app.ctx.secretsKey.toString("base64"),
        // Held image requests wait for the test, not for the fetch deadline.
        IMAGE_FETCH_TIMEOUT_MS: "120000",
      };
      const workers: ChildProcess[] = [
        startProcess(["workers/render.ts"], env),
        startProcess(["workers/render.ts"], env),
      ];
      try {
        const org = await api.createOrg(JOBS * 10);
        const tpl = (await api.api(org.apiKey, "POST", "/api/v1/templates", card)).body.template_id;
        const accepted: string[] = [];
        for (let i = 0; i < JOBS; i += 20) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(20, JOBS - i) }, (_, j) =>
              api.api(org.apiKey, "POST", "/api/v1/create", {
                template_id: tpl,
                format: "jpeg",
                modifications: [{ name: "photo", image_url: `${imageUrl}/p${i + j}.jpg` }],
              }),
            ),
          );
          for (const res of batch) {
            expect(res.status).toBe(202);
            accepted.push(res.body.job_id);
          }
        }
        for (let k = 0; k < KILLS; k++) {
          // Kill only while renders are in flight: with the photos held, every render slot of both
          // workers (2 x RENDER_CONCURRENCY) waiting for its photo means the victim is mid-render.
          await images.waitForHeld(2 * Number(env.RENDER_CONCURRENCY), { timeout: 120_000 });
          const victim = workers[k % workers.length]!;
          victim.child.kill("SIGKILL");
          await victim.exited;
          images.releaseHeld(); // the survivor's renders go on; the victim's requests went with it
          workers[k % workers.length] = startProcess(["workers/render.ts"], env); // it comes back
        }
        images.release(); // from now on every photo comes at once
        // Stalled jobs come back after the lock expires; allow the stall window plus the work.
        await waitForOrgSettled(api.app.ctx.prisma, org.orgId, 60_000 + JOBS * 200);
        const { complete, failed } = await expectNothingLost(api, org.orgId, accepted);
        expect(complete + failed).toBe(JOBS);
        expect(complete).toBeGreaterThan(0);
        const rerun = await api.app.ctx.prisma.job.count({ where: { orgId: org.orgId, attempts: { gt: 1 } } });
        expect(rerun).toBeGreaterThan(0); // the kills did land mid-render, and those jobs ran again
        console.log(
          `chaos: ${JOBS} jobs, ${KILLS} worker kills -> ${complete} complete, ${failed} failed (with reasons), ${rerun} run again after a kill, 0 lost, 0 double charges`,
        );
      } finally {
        for (const w of workers) w.child.kill("SIGKILL");
        await Promise.all(workers.map((w) => w.exited));
        await api.stop();
        await rm(storage, { recursive: true, force: true });
      }
    },
    120_000 + JOBS * 1_000,
  ); // worker start-ups, the stall window and the renders: generous
});

describe("Redis restarted mid-run", () => {
  it("the API keeps accepting (jobs recorded in PostgreSQL), and every accepted job completes once Redis is back", async () => {
    const port = await freePort();
    const startRedis = () =>
      new Promise<NodeChild>((resolve, reject) => {
        const p = spawn(
          "redis-server",
          ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        p.once("error", reject);
        p.stdout.on("data", (c: Buffer) => c.toString().includes("Ready to accept connections") && resolve(p));
      });
    let redis = await startRedis();
    const stack = await startStack({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_MAX: "0",
      RECONCILE_INTERVAL_MS: "500",
    });
    try {
      const org = await stack.createOrg(1000);
      const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", card)).body.template_id;
      const accepted: string[] = [];
      const create = async () => {
        const res = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl });
        if (res.status === 202) accepted.push(res.body.job_id);
        return res;
      };
      for (let i = 0; i < 5; i++) expect((await create()).status).toBe(202);

      redis.kill("SIGKILL"); // gone, with everything it held
      await new Promise((r) => redis.once("exit", r));
      const health = await stack.api(null, "GET", "/health");
      expect(health.status).toBe(503);
      expect(health.body.error).toMatch(/redis/);
      for (let i = 0; i < 5; i++) {
        const res = await create();
        // Accepted and recorded in PostgreSQL (queued later), or refused clearly: never a hang or a 500.
        expect([202, 503]).toContain(res.status);
        expect(typeof res.body).toBe("object");
      }
      expect(accepted.length).toBeGreaterThanOrEqual(5);

      redis = await startRedis(); // back, empty
      await waitForOrgSettled(stack.app.ctx.prisma, org.orgId, 60_000);
      const { failed } = await expectNothingLost(stack, org.orgId, accepted);
      expect(failed).toBe(0);
      expect((await stack.api(null, "GET", "/health")).status).toBe(200);
    } finally {
      await stack.stop().catch(() => {});
      redis.kill("SIGKILL");
    }
  }, 120_000);
});

describe("a webhook receiver that is down for its first attempts", () => {
  it("receives the event once it is up", async () => {
    const port = await freePort();
    // Two quick attempts while nothing listens; then 1 s, 3 s and 8 s: the receiver, started as
    // soon as the second refusal is logged, is up long before the last attempt however slow the machine.
    const stack = await startStack({ RATE_LIMIT_MAX: "0", WEBHOOK_RETRY_SCHEDULE: "0,100,1000,3000,8000" });
    let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | null = null;
    try {
      const org = await stack.createOrg(10);
      const secret = (await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret;
      const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body
        .template_id;
      const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: tpl,
        webhook_url: `http://127.0.0.1:${port}/hook`,
      });
      const deliveries = async () =>
        (await stack.api(org.apiKey, "GET", `/api/v1/create/${res.body.job_id}/deliveries`)).body.data;
      // Nothing listens yet: wait for two refused attempts.
      await until(deliveries, (log) => log.length >= 2, { what: "two refused webhook attempts" });
      receiver = await startWebhookReceiver({ secret, port });
      await until(
        () => receiver!.attempts.length,
        (n) => n >= 1,
        { what: "the attempt that reaches the receiver" },
      );
      await waitForQueuesIdle(stack); // delivered and recorded; no attempt still to come
      expect(receiver.attempts).toHaveLength(1);
      expect(receiver.attempts[0]!.verified).toBe(true);
      const log = await deliveries();
      expect(
        log
          .slice(0, 2)
          .every(
            (a: { status_code: number | null; error: string }) =>
              a.status_code === null && /refused|ECONNREFUSED/i.test(a.error),
          ),
      ).toBe(true);
      expect(log.at(-1).status_code).toBe(200);
    } finally {
      await receiver?.close();
      await stack.stop();
    }
  });
});
