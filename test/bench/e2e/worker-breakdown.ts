// Where a render worker's time goes, per job. A diagnostic beside e2e.bench.ts: it runs the render
// worker's steps in THIS process (src/ untouched), one job at a time, on a fresh database, and
// measures the wall time and the CPU time (process.cpuUsage: every thread, libvips included) of
// each step, as src/workers/render-worker.ts runs them:
//   markProcessing -> uploadedFaces -> renderTemplate -> storage.put -> markComplete
// then the BullMQ overhead alone (a Worker taking no-op jobs with the render queue's options).
//   node --import tsx test/bench/e2e/worker-breakdown.ts [--n=200] [--sharp-concurrency=1] [--json]
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Queue, Worker } from "bullmq";
import { buildApp } from "../../../src/app.js";
import { createOrganization } from "../../../src/billing/organizations.js";
import { parseConfig } from "../../../src/config.js";
import { createRender } from "../../../src/jobs/accept.js";
import { markComplete, markProcessing } from "../../../src/jobs/transitions.js";
import { createLogger } from "../../../src/logger.js";
import { contentTypeForKey } from "../../../src/storage/content-type.js";
import { configureImageCache, configureSharp, renderTemplate } from "../../../src/render/index.js";
import type { OutputFormat, TemplateDocument } from "../../../src/templates/document.js";
import { uploadedFaces } from "../../../src/templates/fonts.js";
import { createTemplate } from "../../../src/templates/service.js";
import { cleanQueuePrefix, freshDatabase } from "../../helpers/infra.js";
import { quantile, round } from "./stats.js";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) =>
  Number(argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const N = opt("n", 200);
const json = argv.includes("--json");
const root = path.resolve(import.meta.dirname, "../../..");

const photo = readFileSync(path.join(root, "test/fixtures/photo.jpg"));
const photoServer = createServer((_req, res) =>
  res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo),
);
await new Promise<void>((resolve) => photoServer.listen(0, "127.0.0.1", resolve));
const photoUrl = `http://127.0.0.1:${(photoServer.address() as AddressInfo).port}/photo.jpg`;

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const database = await freshDatabase(serverUrl);
const prefix = `e2e-wbreak-${randomBytes(3).toString("hex")}`;
const storageDir = mkdtempSync(path.join(os.tmpdir(), "templified-wbreak-"));
const config = parseConfig({
  DATABASE_URL: database.url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: prefix,
  STORAGE_DIR: storageDir,
  SECRETS_KEY: randomBytes(32).toString("base64"),
  ALLOW_PRIVATE_NETWORKS: "true",
});
const app = await buildApp(config, { api: false, worker: false, migrate: false, logger: createLogger("warn") });
const ctx = app.ctx;
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

try {
  configureSharp({ concurrency: opt("sharp-concurrency", 1) });
  configureImageCache({ ttlMs: config.IMAGE_CACHE_TTL_MS });
  const { org } = await createOrganization(ctx, { name: "wbreak", balanceCents: 1_000_000_000 });
  const card = JSON.parse(
    readFileSync(path.join(root, "test/fixtures/social-card.template.json"), "utf8"),
  ) as TemplateDocument & { name: string };
  const template = await createTemplate(ctx.prisma, org.org_id, card);
  const ids: string[] = [];
  for (let i = 0; i < N + 20; i++) {
    const accepted = await createRender(ctx, org.org_id, {
      template_id: template.id,
      modifications: [
        { name: "photo", image_url: photoUrl },
        { name: "title", text: `Title number ${i % 4}` },
      ],
      format: "jpeg",
      scale: 1,
    });
    ids.push(accepted.job.id);
  }
  await ctx.renderQueue.queue.obliterate({ force: true }); // no worker here: the steps are called directly

  const steps = ["markProcessing", "uploadedFaces", "renderTemplate", "storage.put", "markComplete"] as const;
  const wall: Record<string, number[]> = Object.fromEntries(steps.map((s) => [s, []]));
  const cpu: Record<string, number> = Object.fromEntries(steps.map((s) => [s, 0]));
  for (let i = 0; i < ids.length; i++) {
    const measured = i >= 20; // the first 20 warm up (code, fonts, the image cache)
    const step = async <T>(name: (typeof steps)[number], f: () => Promise<T>): Promise<T> => {
      const c = cpuNow();
      const t = performance.now();
      const v = await f();
      if (measured) {
        wall[name]!.push(performance.now() - t);
        cpu[name]! += cpuNow() - c;
      }
      return v;
    };
    const job = (await step("markProcessing", () => markProcessing(ctx, ids[i]!)))!;
    const document = job.document as unknown as TemplateDocument;
    const families = [...new Set(document.layers.flatMap((l) => (l.type === "text" ? [l.font_family] : [])))];
    const fonts = await step("uploadedFaces", () => uploadedFaces(ctx, job.orgId, families));
    const started = performance.now();
    const out = await step("renderTemplate", () =>
      renderTemplate(document, {
        format: job.format as OutputFormat,
        scale: 1,
        fonts,
        allowPrivateNetworks: true,
        fetchTimeoutMs: 10_000,
        maxImageBytes: config.IMAGE_MAX_BYTES,
      }),
    );
    const key = `${job.id}.${out.format}`;
    await step("storage.put", () => ctx.storage.put(key, out.buffer, { contentType: contentTypeForKey(key) }));
    await step("markComplete", () =>
      markComplete(ctx, job.id, { outputKey: key, renderMs: Math.round(performance.now() - started) }),
    );
  }

  // BullMQ alone: the same job options, a processor that does nothing.
  const noopQueue = new Queue("e2e-noop", { connection: { url: redisUrl }, prefix });
  for (let i = 0; i < N; i++) {
    await noopQueue.add(
      "render",
      { jobId: `x${i}` },
      {
        jobId: `x${i}`,
        attempts: 3,
        backoff: { type: "exponential", delay: 1000 },
        removeOnComplete: { age: 3600, count: 10_000 },
      },
    );
  }
  let processed = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const c0 = cpuNow();
  const t0 = performance.now();
  const worker = new Worker(
    "e2e-noop",
    async () => {
      if (++processed === N) resolveDone();
    },
    { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix, concurrency: 1, lockDuration: 30_000 },
  );
  await done;
  const bullmq = {
    wall_ms_per_job: round((performance.now() - t0) / N, 2),
    cpu_ms_per_job: round((cpuNow() - c0) / N, 2),
  };
  await worker.close();
  await noopQueue.close();

  const per = Object.fromEntries(
    steps.map((s) => [s, { wall_median_ms: round(quantile(wall[s]!, 0.5), 2), cpu_ms: round(cpu[s]! / N, 2) }]),
  );
  const totalCpu = steps.reduce((sum, s) => sum + cpu[s]! / N, 0);
  const result = {
    n: N,
    load_at_start: os.loadavg().map((v) => round(v, 2)),
    steps: per,
    bullmq_noop: bullmq,
    cpu_ms_per_job_without_bullmq: round(totalCpu, 2),
  };
  console.log(`render worker steps, one job at a time, ${N} jobs (wall median / CPU per job, ms):`);
  for (const s of steps)
    console.log(
      `  ${s.padEnd(16)} ${String(per[s]!.wall_median_ms).padStart(7)}  ${String(per[s]!.cpu_ms).padStart(7)}`,
    );
  console.log(
    `  ${"BullMQ (no-op)".padEnd(16)} ${String(bullmq.wall_ms_per_job).padStart(7)}  ${String(bullmq.cpu_ms_per_job).padStart(7)}`,
  );
  console.log(
    `  total CPU per job (steps + BullMQ): ${round(totalCpu + bullmq.cpu_ms_per_job, 2)} ms, of which renderTemplate ${per.renderTemplate!.cpu_ms} ms`,
  );
  if (json) console.log(JSON.stringify(result));
} finally {
  await app.stop();
  await cleanQueuePrefix(redisUrl, prefix);
  await database.drop();
  rmSync(storageDir, { recursive: true, force: true });
  photoServer.close();
}
process.exit(0);
