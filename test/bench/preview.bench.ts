// Preview latency, end to end, as an editor sees it: POST /api/v1/previews of the reference card
// (test/fixtures/social-card.template.json, its photo over real HTTP from this process), sent one
// after another like a debounced editor, the title changing on every request (a text edit), timed
// by the client from the request to the last byte of the image; beside it the render worker's own
// time (X-Render-Ms). The stack runs as in production: the compiled API and render worker(s) in
// processes of their own (`npm run bench:preview` builds first), on a fresh PostgreSQL database
// and a queue prefix of their own, removed at the end.
//   node --import tsx test/bench/preview.bench.ts [--json] [--n=100] [--warmup=20] [--workers=1]
// Cases: PNG and JPEG at scale 0.5 and 1. --json: the last line printed is one JSON object.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { cleanQueuePrefix, freePort, freshDatabase } from "../helpers/infra.js";
import { createOrganisations } from "./e2e/organisations.js";
import { startChild, stopChild, waitHealthy, type Child } from "./e2e/processes.js";
import { quantile, round } from "./e2e/stats.js";
import { until } from "./e2e/wait.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CARD = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/social-card.template.json"), "utf8")) as {
  layers: { name: string }[];
};
const PHOTO = readFileSync(path.join(ROOT, "test/fixtures/photo.jpg"));
const TITLES = [
  "Turn any template into a sharp social card in milliseconds",
  "Release notes: faster renders, uploaded fonts and gradients",
  "How we render ten thousand cards an hour on two cores",
  "Short title",
];

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: a number, please`);
  return v;
};
const o = { json: argv.includes("--json"), n: opt("n", 100), warmup: opt("warmup", 20), workers: opt("workers", 1) };
const note = (line: string) => console.error(`[preview-bench] ${line}`);

const undo: (() => unknown)[] = [];
const children: Child[] = [];

/** One preview over a keep-alive connection: status, client ms, server ms, bytes. */
function post(agent: http.Agent, port: number, apiKey: string, body: string) {
  return new Promise<{ status: number; ms: number; renderMs: number; bytes: number; text: string }>(
    (resolve, reject) => {
      const started = performance.now();
      const req = http.request(
        {
          agent,
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/api/v1/previews",
          headers: {
            authorization: `Bearer ${apiKey}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const all = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              ms: performance.now() - started,
              renderMs: Number(res.headers["x-render-ms"] ?? NaN),
              bytes: all.length,
              text: res.statusCode === 200 ? "" : all.toString("utf8").slice(0, 300),
            });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );
}

async function main() {
  const pgServer = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

  const photoServer: Server = createServer((req, res) => {
    if (req.url === "/photo.jpg")
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": PHOTO.length }).end(PHOTO);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => photoServer.listen(0, "127.0.0.1", resolve));
  undo.push(() => new Promise((resolve) => photoServer.close(resolve)));
  const photoUrl = `http://127.0.0.1:${(photoServer.address() as AddressInfo).port}/photo.jpg`;

  const database = await freshDatabase(pgServer);
  undo.push(database.drop);
  const dbUrl = database.url;
  const prefix = `preview-bench-${randomBytes(4).toString("hex")}`;
  undo.push(() => cleanQueuePrefix(redisUrl, prefix));
  const storageDir = mkdtempSync(path.join(os.tmpdir(), "templified-preview-bench-"));
  undo.push(() => rmSync(storageDir, { recursive: true, force: true }));
  const secretsKey = randomBytes(32);
  const [org] = await createOrganisations({ databaseUrl: dbUrl, storageDir, secretsKey }, ["preview bench"]);
  if (!org) throw new Error("no organisation created");
  const { apiKey } = org;

  const port = await freePort();
  const env = {
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    HOST: "127.0.0.1",
    RATE_LIMIT_MAX: "0",
    PREVIEW_RATE_LIMIT_MAX: "0",
    LOG_LEVEL: "warn",
    ALLOW_PRIVATE_NETWORKS: "true",
    SECRETS_KEY: secretsKey.toString("base64"),
    STORAGE_DIR: storageDir,
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? "2",
  };
  const api = startChild("api", ROOT, "dist/src/main.js", ["api"], env);
  children.push(api);
  for (let i = 0; i < o.workers; i++)
    children.push(startChild(`render-${i + 1}`, ROOT, "dist/workers/render.js", [], env));
  undo.push(() => Promise.all(children.map((c) => stopChild(c))));
  await waitHealthy(`http://127.0.0.1:${port}/health`, api);
  const queue = new Queue("previews", { connection: { url: redisUrl }, prefix });
  undo.push(() => queue.close());
  await until("render workers registered", 30_000, async () => (await queue.getWorkersCount()) >= o.workers, 100);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  undo.push(() => agent.destroy());
  const document = {
    ...CARD,
    layers: CARD.layers.map((l) => (l.name === "photo" ? { ...l, image_url: photoUrl } : l)),
  };
  const cases = [
    { format: "png", scale: 0.5 },
    { format: "jpeg", scale: 0.5 },
    { format: "png", scale: 1 },
    { format: "jpeg", scale: 1 },
  ] as const;
  const results: Record<string, unknown> = {};
  let i = 0;
  for (const c of cases) {
    const client: number[] = [];
    const server: number[] = [];
    let bytes = 0;
    for (let k = 0; k < o.warmup + o.n; k++) {
      const title = `${TITLES[i++ % TITLES.length]} ${k}`;
      const body = JSON.stringify({ document, modifications: [{ name: "title", text: title }], ...c });
      const res = await post(agent, port, apiKey, body);
      if (res.status !== 200) throw new Error(`preview ${c.format}@${c.scale}: ${res.status} ${res.text}`);
      if (k < o.warmup) continue;
      client.push(res.ms);
      server.push(res.renderMs);
      bytes = res.bytes;
    }
    const key = `${c.format}_${c.scale}`;
    results[key] = {
      n: client.length,
      median_ms: round(quantile(client, 0.5), 1),
      p95_ms: round(quantile(client, 0.95), 1),
      render_median_ms: round(quantile(server, 0.5), 1),
      render_p95_ms: round(quantile(server, 0.95), 1),
      bytes,
    };
  }

  const rows = Object.entries(results) as [string, Record<string, number>][];
  console.log(
    `Preview of the reference card (1200x630), sequential, ${o.n} per case after ${o.warmup} warm-up; ` +
      `API + ${o.workers} render worker process(es), ${os.availableParallelism()} cores`,
  );
  console.log("case        client median   client p95   render median   render p95   bytes");
  for (const [k, r] of rows)
    console.log(
      `${k.padEnd(11)} ${`${r.median_ms} ms`.padStart(13)} ${`${r.p95_ms} ms`.padStart(12)} ${`${r.render_median_ms} ms`.padStart(15)} ${`${r.render_p95_ms} ms`.padStart(12)} ${String(r.bytes).padStart(7)}`,
    );
  if (o.json)
    console.log(JSON.stringify({ bench: "preview", cores: os.availableParallelism(), workers: o.workers, ...results }));
}

async function cleanup() {
  while (undo.length) {
    try {
      await undo.pop()!();
    } catch (e) {
      note(`cleanup: ${(e as Error).message}`);
    }
  }
}

const watchdog = setTimeout(() => {
  note("time limit of 300 s reached");
  void cleanup().then(() => process.exit(2));
}, 300_000);
main()
  .then(cleanup, async (e: unknown) => {
    note(e instanceof Error ? (e.stack ?? e.message) : String(e));
    for (const c of children) if (c.tail.length) note(`${c.name}:\n  ${c.tail.join("\n  ")}`);
    await cleanup();
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));
