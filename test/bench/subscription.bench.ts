// Subscription delivery latency: from a job status being published on the event bus to a
// graphql-ws client receiving it, over real Redis pub/sub and a real WebSocket.
//   npm run bench:subscription [-- --events=2000] [--json]
// Needs PostgreSQL (TEST_POSTGRES_URL or 127.0.0.1:5432) and Redis, like the tests.
import { randomBytes } from "node:crypto";
import { createClient } from "graphql-ws";
import pg from "pg";
import WebSocket from "ws";
import { buildApp } from "../../src/app.js";
import { createOrganization } from "../../src/billing/organizations.js";
import { parseConfig } from "../../src/config.js";
import { migratePostgres } from "../../src/db/migrations.js";
import { createLogger } from "../../src/logger.js";
import type { JobView } from "../../src/jobs/view.js";
import { cleanQueuePrefix, freePort } from "../helpers/infra.js";

const args = process.argv.slice(2);
const events = Number(args.find((a) => a.startsWith("--events="))?.split("=")[1] ?? 2000);
const json = args.includes("--json");

const server = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const dbName = `templified_bench_${randomBytes(3).toString("hex")}`;
const dbUrl = Object.assign(new URL(server), { pathname: `/${dbName}` }).toString();
await migratePostgres(dbUrl, () => {});

const port = await freePort();
const prefix = `bench-${randomBytes(3).toString("hex")}`;
const config = parseConfig({
  PORT: String(port),
  HOST: "127.0.0.1",
  DATABASE_URL: dbUrl,
  QUEUE_PREFIX: prefix,
  RATE_LIMIT_MAX: "0",
});
const app = await buildApp(config, { api: true, worker: false, migrate: false, logger: createLogger("warn") });
await app.start();
const { org, apiKey } = await createOrganization(app.ctx, { name: "bench", balanceCents: 0 });

const client = createClient({
  url: `ws://127.0.0.1:${port}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${apiKey}` },
});
let waiting: ((id: string) => void) | null = null;
const subscribed = new Promise<void>((resolve) => {
  client.subscribe<{ jobUpdates: { id: string } }>(
    { query: "subscription { jobUpdates { id } }" },
    { next: (r) => waiting?.(r.data!.jobUpdates.id), error: (e) => console.error(e), complete: () => {} },
  );
  const check = setInterval(() => {
    if (app.ctx.events.listenerCount() > 0) {
      clearInterval(check);
      resolve();
    }
  }, 5);
});
await subscribed;

const view = (i: number): JobView => ({
  job_id: `clx_bench${i}`,
  status: "processing",
  template_id: "tpl_bench",
  created_at: new Date().toISOString(),
});
const latencies: number[] = [];
for (let i = 0; i < events + 100; i++) {
  const received = new Promise<string>((resolve) => (waiting = resolve));
  const t0 = performance.now();
  await app.ctx.events.publishJob({ org_id: org.org_id, job: view(i) });
  const id = await received;
  if (id !== `clx_bench${i}`) throw new Error(`out of order: ${id} for ${i}`);
  if (i >= 100) latencies.push(performance.now() - t0); // the first 100 warm up
}
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
const result = {
  events: latencies.length,
  median_ms: +q(0.5).toFixed(3),
  p99_ms: +q(0.99).toFixed(3),
  max_ms: +q(1).toFixed(3),
};

console.log(`subscription delivery (publish -> graphql-ws client), ${result.events} events`);
console.log(`  median ${result.median_ms} ms   p99 ${result.p99_ms} ms   max ${result.max_ms} ms`);
if (json) console.log(JSON.stringify({ subscription_delivery: result }));

await client.dispose();
await app.stop();
await cleanQueuePrefix(config.REDIS_URL, prefix);
const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
await admin.end();
