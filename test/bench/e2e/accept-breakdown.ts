// Where the time of POST /api/v1/create goes. Not part of e2e.bench.ts: a diagnostic that runs
// the API in THIS process (so it can look inside without touching src/), on a fresh database.
//   node --import tsx test/bench/e2e/accept-breakdown.ts [--n=300] [--clients=50] [--seconds=2] [--json]
//
//  1. Sequential accepts (one client): per request, the client-side latency, the server's own time
//     (Fastify onRequest -> onResponse), every SQL statement (pg.Client#query timed and labelled),
//     the BullMQ add and the event publish; "other" is what is left: Fastify, zod, Prisma's JS.
//  2. Throughput of each part alone at --clients concurrency for --seconds each: the full HTTP
//     accept, the same Prisma calls without HTTP, the same work as plain SQL on pg (lookups +
//     one statement that debits, inserts the job and its CHARGE row), BullMQ add, publish.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { buildApp } from "../../../src/app.js";
import { authenticateApiKey, hashApiKey } from "../../../src/auth/api-keys.js";
import { debit, recordCharge } from "../../../src/billing/charges.js";
import { createOrganization } from "../../../src/billing/organizations.js";
import { parseConfig } from "../../../src/config.js";
import { newId } from "../../../src/db/ids.js";
import { orgChannel } from "../../../src/events/bus.js";
import { createLogger } from "../../../src/logger.js";
import { findTemplate } from "../../../src/templates/service.js";
import { cleanQueuePrefix, freePort, freshDatabase } from "../../helpers/infra.js";
import { closedLoop, JsonClient } from "./http.js";
import { postgresBackendsCpuMs, snapshot, used } from "./cpu.js";
import { quantile, round } from "./stats.js";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) =>
  Number(argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const N = opt("n", 300);
const CLIENTS = opt("clients", 50);
const SECONDS = opt("seconds", 2);
const json = argv.includes("--json");

// ---------------------------------------------------------------------------------------------
// Instrumentation: every SQL statement any pg.Client runs (adapter-pg's pool included).

type Trace = { sql: Map<string, number[]>; sqlMs: number; sqlCount: number; enqueueMs: number; publishMs: number };
const newTrace = (): Trace => ({ sql: new Map(), sqlMs: 0, sqlCount: 0, enqueueMs: 0, publishMs: 0 });
let trace: Trace | null = null;

const label = (text: string): string => {
  const s = text.replace(/\s+/g, " ").replaceAll('"public".', "").trim();
  const verb =
    /^(BEGIN|COMMIT|ROLLBACK|SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH)\b/i.exec(s)?.[1]?.toUpperCase() ??
    s.slice(0, 20);
  const table = /(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?/i.exec(s)?.[1];
  return table ? `${verb} ${table}` : verb;
};
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .apply(this)
const originalQuery = pg.Client.prototype.query as (...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const t = trace;
  if (!t) return originalQuery.apply(this, args);
  const cfg = args[0] as string | { text?: string };
  const key = label(typeof cfg === "string" ? cfg : (cfg.text ?? "?"));
  const started = performance.now();
  const done = () => {
    const ms = performance.now() - started;
    t.sqlMs += ms;
    t.sqlCount++;
    const list = t.sql.get(key) ?? [];
    list.push(ms);
    t.sql.set(key, list);
  };
  const last = args[args.length - 1];
  if (typeof last === "function") {
    args[args.length - 1] = (err: unknown, res: unknown) => {
      done();
      (last as (e: unknown, r: unknown) => void)(err, res);
    };
    return originalQuery.apply(this, args);
  }
  const result = originalQuery.apply(this, args) as Promise<unknown> | undefined;
  if (result && typeof result.then === "function") result.then(done, done);
  return result;
} as typeof pg.Client.prototype.query;

// ---------------------------------------------------------------------------------------------

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const database = await freshDatabase(serverUrl);
const dbName = new URL(database.url).pathname.slice(1);
const cpuParts = {
  node: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
  postgres: () => postgresBackendsCpuMs(dbName),
};
const prefix = `e2e-breakdown-${randomBytes(3).toString("hex")}`;
const storageDir = mkdtempSync(path.join(os.tmpdir(), "templified-breakdown-"));
const port = await freePort();
const config = parseConfig({
  PORT: String(port),
  HOST: "127.0.0.1",
  DATABASE_URL: database.url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: prefix,
  RATE_LIMIT_MAX: "0",
  STORAGE_DIR: storageDir,
  SECRETS_KEY: randomBytes(32).toString("base64"),
  ALLOW_PRIVATE_NETWORKS: "true",
});
const app = await buildApp(config, { api: true, worker: false, migrate: false, logger: createLogger("warn") });
const ctx = app.ctx;

// Server-side time of each request, from Fastify's own hooks.
let serverMs: number[] = [];
const arrived = new WeakMap<object, number>();
app.server!.addHook("onRequest", async (request) => void arrived.set(request, performance.now()));
app.server!.addHook("onResponse", async (request) => {
  const t = arrived.get(request);
  if (t !== undefined && trace) serverMs.push(performance.now() - t);
});
// BullMQ add and the event publish, timed on the instances (src/ untouched).
const enqueue = ctx.renderQueue.enqueue.bind(ctx.renderQueue);
ctx.renderQueue.enqueue = async (id: string) => {
  const t = trace;
  const started = performance.now();
  await enqueue(id);
  if (t) t.enqueueMs += performance.now() - started;
};
const publishJob = ctx.events.publishJob.bind(ctx.events);
ctx.events.publishJob = async (event) => {
  const t = trace;
  const started = performance.now();
  await publishJob(event);
  if (t) t.publishMs += performance.now() - started;
};

const results: Record<string, unknown> = {
  machine: { cpus: os.availableParallelism(), loadavg_at_start: os.loadavg().map((v) => round(v, 2)) },
};
try {
  await app.start();
  const { org, apiKey } = await createOrganization(ctx, { name: "breakdown", balanceCents: 1_000_000_000 });
  const client = new JsonClient(`http://127.0.0.1:${port}`, { authorization: `Bearer ${apiKey}` }, CLIENTS);
  const card = readFileSync(path.resolve(import.meta.dirname, "../../fixtures/social-card.template.json"), "utf8");
  const templateId = (
    JSON.parse((await client.request("POST", "/api/v1/templates", card)).body) as { template_id: string }
  ).template_id;
  const body = JSON.stringify({
    template_id: templateId,
    modifications: [
      { name: "photo", image_url: "http://127.0.0.1:9/photo.jpg" },
      { name: "title", text: "Short title" },
    ],
    format: "jpeg",
  });

  // 1. Sequential.
  for (let i = 0; i < 50; i++) await client.request("POST", "/api/v1/create", body); // warm-up
  const traces: (Trace & { totalMs: number })[] = [];
  serverMs = [];
  const seqCpuBefore = snapshot(cpuParts);
  for (let i = 0; i < N; i++) {
    trace = newTrace();
    const res = await client.request("POST", "/api/v1/create", body);
    if (res.status !== 202) throw new Error(`${res.status} ${res.body}`);
    traces.push({ ...trace, totalMs: res.ms });
  }
  trace = null;
  const seqCpu = used(seqCpuBefore, snapshot(cpuParts));
  const med = (xs: number[]) => round(quantile(xs, 0.5), 2);
  const statements = new Map<string, { count: number; ms: number[] }>();
  for (const t of traces) {
    for (const [k, v] of t.sql) {
      const e = statements.get(k) ?? { count: 0, ms: [] };
      e.count += v.length;
      e.ms.push(...v);
      statements.set(k, e);
    }
  }
  const sequential = {
    n: N,
    client_ms: med(traces.map((t) => t.totalMs)),
    client_p99_ms: round(
      quantile(
        traces.map((t) => t.totalMs),
        0.99,
      ),
      2,
    ),
    server_ms: med(serverMs),
    sql_ms: med(traces.map((t) => t.sqlMs)),
    sql_statements_per_request: round(traces.reduce((s, t) => s + t.sqlCount, 0) / N, 2),
    bullmq_add_ms: med(traces.map((t) => t.enqueueMs)),
    publish_ms: med(traces.map((t) => t.publishMs)),
    other_ms: med(traces.map((t) => t.totalMs - t.sqlMs - t.enqueueMs - t.publishMs)),
    cpu_ms_per_request: { node_incl_client: round(seqCpu.node! / N, 2), postgres: round(seqCpu.postgres! / N, 2) },
    statements: Object.fromEntries(
      [...statements].map(([k, v]) => [k, { per_request: round(v.count / N, 2), median_ms: med(v.ms) }]),
    ),
  };
  results.sequential = sequential;

  // 2. Each part alone, closed loop at CLIENTS concurrency.
  const throughput: Record<string, number> = {};
  const cpuPerOp: Record<string, string> = {};
  let lastCpu: { before: ReturnType<typeof snapshot>; ops: number } | null = null;
  const loop = async (run: () => Promise<unknown>): Promise<number> => {
    let done = 0;
    lastCpu = { before: snapshot(cpuParts), ops: 0 };
    const end = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < end) {
          await run();
          done++;
        }
      }),
    );
    lastCpu.ops = done;
    return round(done / ((performance.now() - started) / 1000), 0);
  };
  const record = (name: string, rate: number) => {
    throughput[name] = rate;
    if (lastCpu) {
      const c = used(lastCpu.before, snapshot(cpuParts));
      cpuPerOp[name] = `node ${round(c.node! / lastCpu.ops, 2)}, postgres ${round(c.postgres! / lastCpu.ops, 2)}`;
    }
    lastCpu = null;
  };
  const template = (await findTemplate(ctx.prisma, org.org_id, templateId))!;
  const documentJson = JSON.stringify(template.document);
  const inputJson = JSON.stringify({
    modifications: JSON.parse(body).modifications,
    format: "jpeg",
    quality: null,
    scale: 1,
  });
  const pool = new pg.Pool({ connectionString: database.url, max: 10 });
  const keyHash = hashApiKey(apiKey);
  lastCpu = { before: snapshot(cpuParts), ops: 0 };
  const http = await closedLoop(client, {
    clients: CLIENTS,
    durationMs: SECONDS * 1000,
    maxRequests: Infinity,
    expectStatus: 202,
    request: () => ({ method: "POST", path: "/api/v1/create", body }),
  });
  lastCpu.ops = http.latencies.length;
  record("http_accept", round(http.latencies.length / (http.elapsedMs / 1000), 0));
  throughput.http_accept_median_ms = round(quantile(http.latencies, 0.5), 1);
  record(
    "prisma_same_calls",
    await loop(async () => {
      const principal = await authenticateApiKey(ctx.prisma, apiKey);
      const t = await findTemplate(ctx.prisma, principal!.orgId, templateId);
      await ctx.prisma.$transaction(async (tx) => {
        await debit(tx, org.org_id, 1);
        const job = await tx.job.create({
          data: {
            id: newId("clx"),
            orgId: org.org_id,
            templateId: t!.id,
            templateVersion: t!.version,
            input: JSON.parse(inputJson),
            document: JSON.parse(documentJson),
            format: "jpeg",
            priceCents: 1,
          },
        });
        await recordCharge(tx, org.org_id, job.id, 1);
      });
    }),
  );
  const ONE_STATEMENT = `
    WITH debited AS (
      UPDATE "organizations" SET "balance_cents" = "balance_cents" - $3
      WHERE "id" = $1 AND "balance_cents" >= $3 AND "status" = 'ACTIVE' RETURNING "id"
    ), job AS (
      INSERT INTO "jobs" ("id", "org_id", "template_id", "template_version", "input", "document", "format", "price_cents")
      SELECT $2, "id", $4, $5, $6::jsonb, $7::jsonb, 'jpeg', $3 FROM debited RETURNING "id", "created_at"
    ), charge AS (
      INSERT INTO "ledger_entries" ("id", "org_id", "job_id", "kind", "amount_cents")
      SELECT $8, $1, "id", 'CHARGE', -$3::int FROM job RETURNING "id"
    )
    SELECT "id", "created_at" FROM job`;
  record(
    "pg_lookups_plus_one_statement",
    await loop(async () => {
      const key = await pool.query(`SELECT "id", "org_id", "revoked_at" FROM "api_keys" WHERE "key_hash" = $1`, [
        keyHash,
      ]);
      const t = await pool.query(
        `SELECT "id", "version", "document" FROM "templates" WHERE "id" = $1 AND "org_id" = $2 AND "deleted_at" IS NULL`,
        [templateId, key.rows[0].org_id],
      );
      const r = await pool.query(ONE_STATEMENT, [
        org.org_id,
        newId("clx"),
        1,
        templateId,
        t.rows[0].version,
        inputJson,
        documentJson,
        newId("led"),
      ]);
      if (r.rowCount !== 1) throw new Error("not inserted");
    }),
  );
  record(
    "pg_same_7_statements",
    await loop(async () => {
      const key = await pool.query(`SELECT "id", "org_id", "revoked_at" FROM "api_keys" WHERE "key_hash" = $1`, [
        keyHash,
      ]);
      const t = await pool.query(
        `SELECT "id", "version", "document" FROM "templates" WHERE "id" = $1 AND "org_id" = $2 AND "deleted_at" IS NULL`,
        [templateId, key.rows[0].org_id],
      );
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query(
          `UPDATE "organizations" SET "balance_cents" = "balance_cents" - $2 WHERE "id" = $1 AND "balance_cents" >= $2 AND "status" = 'ACTIVE'`,
          [org.org_id, 1],
        );
        const jobId = newId("clx");
        await c.query(
          `INSERT INTO "jobs" ("id", "org_id", "template_id", "template_version", "input", "document", "format", "price_cents") VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, 'jpeg', 1) RETURNING *`,
          [jobId, org.org_id, templateId, t.rows[0].version, inputJson, documentJson],
        );
        await c.query(
          `INSERT INTO "ledger_entries" ("id", "org_id", "job_id", "kind", "amount_cents") VALUES ($1, $2, $3, 'CHARGE', -1) RETURNING *`,
          [newId("led"), org.org_id, jobId],
        );
        await c.query("COMMIT");
      } finally {
        c.release();
      }
    }),
  );
  // The same, with the load spread over CLIENTS organisations (one each): no shared balance row.
  const orgs = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      createOrganization(ctx, { name: `breakdown ${i}`, balanceCents: 1_000_000_000 }),
    ),
  );
  const spread = async (run: (orgId: string, apiKey: string) => Promise<unknown>): Promise<number> => {
    let done = 0;
    lastCpu = { before: snapshot(cpuParts), ops: 0 };
    const end = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      orgs.map(async (o) => {
        while (performance.now() < end) {
          await run(o.org.org_id, o.apiKey);
          done++;
        }
      }),
    );
    lastCpu.ops = done;
    return round(done / ((performance.now() - started) / 1000), 0);
  };
  record(
    "pg_same_7_statements_one_org_per_client",
    await spread(async (orgId) => {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query(
          `UPDATE "organizations" SET "balance_cents" = "balance_cents" - $2 WHERE "id" = $1 AND "balance_cents" >= $2 AND "status" = 'ACTIVE'`,
          [orgId, 1],
        );
        const jobId = newId("clx");
        await c.query(
          `INSERT INTO "jobs" ("id", "org_id", "template_id", "template_version", "input", "document", "format", "price_cents") VALUES ($1, $2, $3, 1, $4::jsonb, $5::jsonb, 'jpeg', 1) RETURNING *`,
          [jobId, orgId, templateId, inputJson, documentJson],
        );
        await c.query(
          `INSERT INTO "ledger_entries" ("id", "org_id", "job_id", "kind", "amount_cents") VALUES ($1, $2, $3, 'CHARGE', -1) RETURNING *`,
          [newId("led"), orgId, jobId],
        );
        await c.query("COMMIT");
      } finally {
        c.release();
      }
    }),
  );
  record(
    "prisma_raw_one_statement",
    await loop(() =>
      ctx.prisma.$queryRawUnsafe(
        ONE_STATEMENT,
        org.org_id,
        newId("clx"),
        1,
        templateId,
        1,
        inputJson,
        documentJson,
        newId("led"),
      ),
    ),
  );
  const perOrgClients = orgs.map(
    (o) => new JsonClient(`http://127.0.0.1:${port}`, { authorization: `Bearer ${o.apiKey}` }, 1),
  );
  const orgTemplates = await Promise.all(
    perOrgClients.map(
      async (c) =>
        (JSON.parse((await c.request("POST", "/api/v1/templates", card)).body) as { template_id: string }).template_id,
    ),
  );
  {
    const lat: number[] = [];
    lastCpu = { before: snapshot(cpuParts), ops: 0 };
    const started = performance.now();
    const end = started + SECONDS * 1000;
    await Promise.all(
      perOrgClients.map(async (c, i) => {
        const b = body.replace(templateId, orgTemplates[i]!);
        while (performance.now() < end) {
          const r = await c.request("POST", "/api/v1/create", b);
          if (r.status !== 202) throw new Error(`${r.status} ${r.body}`);
          lat.push(r.ms);
        }
      }),
    );
    lastCpu.ops = lat.length;
    record("http_accept_one_org_per_client", round(lat.length / ((performance.now() - started) / 1000), 0));
    throughput.http_accept_one_org_per_client_median_ms = round(quantile(lat, 0.5), 1);
    for (const c of perOrgClients) c.close();
  }
  record(
    "prisma_two_lookups_only",
    await loop(async () => {
      const principal = await authenticateApiKey(ctx.prisma, apiKey);
      await findTemplate(ctx.prisma, principal!.orgId, templateId);
    }),
  );
  record(
    "pg_two_lookups_only",
    await loop(async () => {
      const key = await pool.query(`SELECT "id", "org_id", "revoked_at" FROM "api_keys" WHERE "key_hash" = $1`, [
        keyHash,
      ]);
      await pool.query(`SELECT * FROM "templates" WHERE "id" = $1 AND "org_id" = $2 AND "deleted_at" IS NULL`, [
        templateId,
        key.rows[0].org_id,
      ]);
    }),
  );
  record(
    "pg_one_statement_only",
    await loop(async () => {
      const r = await pool.query(ONE_STATEMENT, [
        org.org_id,
        newId("clx"),
        1,
        templateId,
        1,
        inputJson,
        documentJson,
        newId("led"),
      ]);
      if (r.rowCount !== 1) throw new Error("not inserted");
    }),
  );
  record("bullmq_add", await loop(() => ctx.renderQueue.add(newId("clx"), 1)));
  const payload = JSON.stringify({
    org_id: org.org_id,
    job: { job_id: "clx_x", status: "pending", template_id: templateId, created_at: new Date().toISOString() },
  });
  record(
    "publish_multi",
    await loop(() =>
      ctx.redis
        .multi()
        .publish(`${prefix}:events:job:x`, payload)
        .publish(orgChannel(prefix, org.org_id), payload)
        .exec(),
    ),
  );
  results.throughput_per_s = throughput;
  results.cpu_ms_per_op = cpuPerOp;
  results.clients = CLIENTS;
  await pool.end();
  client.close();

  const s = sequential;
  console.log(
    `POST /api/v1/create, one client, ${N} requests (medians, ms; load at start ${(results.machine as { loadavg_at_start: number[] }).loadavg_at_start.join(" ")})`,
  );
  console.log(
    `  CPU per request: this process (server + client) ${s.cpu_ms_per_request.node_incl_client} ms, PostgreSQL ${s.cpu_ms_per_request.postgres} ms`,
  );
  console.log(
    `  client ${s.client_ms} (p99 ${s.client_p99_ms})   server ${s.server_ms}   SQL ${s.sql_ms} in ${s.sql_statements_per_request} statements   BullMQ add ${s.bullmq_add_ms}   publish ${s.publish_ms}   other (Fastify, zod, Prisma JS, client) ${s.other_ms}`,
  );
  for (const [k, v] of Object.entries(s.statements))
    console.log(`    ${k.padEnd(28)} x${v.per_request}  ${v.median_ms} ms`);
  console.log(`throughput, ${CLIENTS} concurrent, ${SECONDS} s each (per second):`);
  for (const [k, v] of Object.entries(throughput))
    console.log(`  ${k.padEnd(40)} ${String(v).padStart(6)}   ${cpuPerOp[k] ? `CPU ms/op: ${cpuPerOp[k]}` : ""}`);
  if (json) console.log(JSON.stringify(results));
} finally {
  trace = null;
  await app.stop();
  await cleanQueuePrefix(redisUrl, prefix);
  await database.drop();
  rmSync(storageDir, { recursive: true, force: true });
}
process.exit(0);
