// A split deployment with no shared disk: two API processes and two render workers, each with its
// own STORAGE_DIR, cache and temp directory, sharing only PostgreSQL, Redis and an S3 bucket (a
// loopback server). A font uploaded through API #1 and a render accepted by API #1 are rendered by
// a worker (which reads the font from the bucket), and the image is fetched through API #2 and
// found in the bucket.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createOrganization } from "../src/billing/organizations.js";
import { openDatabase, type Database } from "../src/db/client.js";
import { cleanQueuePrefix, freePort, freshDatabase } from "./helpers/infra.js";
import { ROOT, startProcess, type ChildProcess } from "./helpers/run.js";
import { S3RVER_CREDENTIALS, s3Env, startS3TestServer, type S3TestServer } from "./helpers/s3-server.js";
import { until, waitForHttp } from "./helpers/wait.js";

const BUCKET = "templified-topology";
const PREFIX = "cluster/";
const SECRETS_KEY = randomBytes(32).toString("base64");
const PUBLIC_BASE_URL = "https://images.example.com";
const queuePrefix = `test-${randomBytes(4).toString("hex")}`;

let s3: S3TestServer;
let database: { url: string; drop: () => Promise<void> };
let db: Database;
let root: string;
const processes: { name: string; proc: ChildProcess; dir: string }[] = [];
const apis: string[] = [];

/** One process's own directories: nothing on one machine's disk is visible to another. */
async function machine(name: string, script: string[], env: Record<string, string>) {
  const dir = await mkdtemp(path.join(root, `${name}-`));
  const proc = startProcess(script, {
    DATABASE_URL: database.url,
    REDIS_URL: inject("redisUrl"),
    QUEUE_PREFIX: queuePrefix,
    SECRETS_KEY,
    ALLOW_PRIVATE_NETWORKS: "true",
    ...s3Env(s3, BUCKET),
    S3_PREFIX: PREFIX,
    STORAGE_DIR: path.join(dir, "renders"),
    S3_CACHE_DIR: path.join(dir, "cache"),
    TMPDIR: path.join(dir),
    LOG_LEVEL: "info",
    ...env,
  });
  processes.push({ name, proc, dir });
  return proc;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "templified-topology-"));
  s3 = await startS3TestServer({ buckets: [BUCKET] });
  database = await freshDatabase(inject("databaseUrl"));
  db = await openDatabase({ databaseUrl: database.url, pgliteDir: "", migrate: false });
  const started: Promise<void>[] = [];
  for (const n of [1, 2]) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    apis.push(base);
    const api = await machine(`api${n}`, ["src/main.ts", "api"], {
      PORT: String(port),
      HOST: "127.0.0.1",
      // What clients see: the load balancer in front of both (never fetched by this test).
      PUBLIC_BASE_URL: PUBLIC_BASE_URL,
    });
    started.push(waitForHttp(`${base}/health`, () => api.output(), 60_000));
  }
  for (const n of [1, 2]) {
    const worker = await machine(`worker${n}`, ["src/main.ts", "worker"], {});
    started.push(
      until(
        () => worker.output(),
        (out) => out.includes("Templified worker started"),
        { timeout: 60_000, what: `worker ${n} to start` },
      ).then(() => {}),
    );
  }
  await Promise.all(started);
});

afterAll(async () => {
  for (const { proc } of processes) proc.child.kill("SIGTERM");
  await Promise.all(processes.map(({ proc }) => proc.exited));
  await db?.close();
  await database?.drop();
  await s3?.stop();
  await cleanQueuePrefix(inject("redisUrl"), queuePrefix);
  await rm(root, { recursive: true, force: true });
});

describe("two APIs and two render workers sharing PostgreSQL, Redis and a bucket, no disk", () => {
  it("renders a job accepted by API #1 with a font uploaded there; API #2 and the bucket serve the image", async () => {
    const [api1, api2] = apis as [string, string];
    const { apiKey } = await createOrganization(
      { prisma: db.prisma, secretsKey: Buffer.from(SECRETS_KEY, "base64") },
      { name: "topology", balanceCents: 1000 },
    );
    const auth = { authorization: `Bearer ${apiKey}` };
    const post = async (base: string, route: string, body: unknown) => {
      const res = await fetch(base + route, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };

    // The font lands in the bucket through API #1; the workers have never seen it.
    const ttf = readFileSync(
      path.join(ROOT, "node_modules/@expo-google-fonts/jetbrains-mono/700Bold/JetBrainsMono_700Bold.ttf"),
    );
    const font = await fetch(`${api1}/api/v1/fonts?family=Cluster%20Mono`, {
      method: "POST",
      headers: { ...auth, "content-type": "font/ttf" },
      body: new Uint8Array(ttf),
    });
    expect(font.status).toBe(201);
    const template = await post(api1, "/api/v1/templates", {
      name: "cluster card",
      width: 320,
      height: 100,
      background: "#ffffff",
      layers: [
        {
          type: "text",
          name: "t",
          x: 10,
          y: 10,
          width: 300,
          height: 80,
          text: "Shared",
          font_family: "Cluster Mono",
          font_size: 40,
          color: "#000000",
        },
      ],
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);

    const jobs = await Promise.all(
      [1, 2, 3, 4].map(() => post(api1, "/api/v1/create", { template_id: template.body.template_id, format: "png" })),
    );
    for (const job of jobs) expect(job.status).toBe(202);

    for (const { body: accepted } of jobs) {
      // Polled through the other API: the job's state is in PostgreSQL, not in API #1.
      const done = await until(
        async () => (await fetch(`${api2}/api/v1/create/${accepted.job_id}`, { headers: auth })).json(),
        (j) => j.status === "complete" || j.status === "failed",
        { what: `job ${accepted.job_id} to be final through API #2` },
      );
      expect(done.status, done.error).toBe("complete");
      const key = `${accepted.job_id}.png`;
      expect(done.output_url).toBe(`${PUBLIC_BASE_URL}/renders/${key}`);

      // API #2 never rendered or stored anything: it streams the image from the bucket (as the
      // load balancer would have it do for output_url).
      const image = await fetch(`${api2}/renders/${key}`);
      expect(image.status).toBe(200);
      expect(image.headers.get("content-type")).toBe("image/png");
      const bytes = Buffer.from(await image.arrayBuffer());
      expect(Number(image.headers.get("content-length"))).toBe(bytes.length);
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["png", 320, 100]);

      const client = new S3Client({
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      });
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: PREFIX + key }));
        expect(head.ContentLength).toBe(bytes.length);
        expect(head.ContentType).toBe("image/png");
      } finally {
        client.destroy();
      }
    }

    // Rendered by the workers, one or both, and written to no process's disk.
    const rendered = jobs.map(({ body }) =>
      processes.find((p) => p.name.startsWith("worker") && p.proc.output().includes(body.job_id)),
    );
    expect(rendered.every((p) => p !== undefined)).toBe(true);
    for (const { dir } of processes) {
      expect(existsSync(path.join(dir, "renders"))).toBe(false);
    }
    // The font was read from the bucket by a worker, into that worker's own cache.
    const cached = await Promise.all(
      processes
        .filter((p) => p.name.startsWith("worker"))
        .map(async ({ dir }) => (existsSync(path.join(dir, "cache")) ? readdir(path.join(dir, "cache")) : [])),
    );
    expect(cached.flat().some((f) => f.startsWith("fonts_fnt_"))).toBe(true);
  });
});
