// Prometheus metrics at /metrics (prom-client): request counts and latencies by route, jobs by
// status, render time, queue depth, delivery attempts and failures, balance refusals. Counters
// that workers feed live in the same registry when they run in the process (npm start).
// METRICS_TOKEN, when set, puts /metrics behind `Authorization: Bearer <token>`.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AppContext } from "../context.js";

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "templified_process_" });

export const httpRequests = new Counter({
  name: "templified_http_requests_total",
  help: "HTTP requests by method, route and status code",
  labelNames: ["method", "route", "status"] as const,
  registers: [registry],
});
export const httpDuration = new Histogram({
  name: "templified_http_request_duration_seconds",
  help: "HTTP request latency by method, route and status code",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
  registers: [registry],
});
export const renderDuration = new Histogram({
  name: "templified_render_duration_seconds",
  help: "Time to render and store one image",
  labelNames: ["format"] as const,
  buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5],
  registers: [registry],
});
export const deliveryAttempts = new Counter({
  name: "templified_delivery_attempts_total",
  help: "Webhook and send_to attempts by kind and outcome",
  labelNames: ["kind", "outcome"] as const,
  registers: [registry],
});
export const balanceRefusals = new Counter({
  name: "templified_balance_refusals_total",
  help: "Requests refused with 402 (insufficient balance or suspended)",
  labelNames: ["reason"] as const,
  registers: [registry],
});

/** Gauges read at scrape time from the record (Postgres) and the queues (Redis). */
export function registerStateGauges(ctx: AppContext): void {
  if (registry.getSingleMetric("templified_jobs")) registry.removeSingleMetric("templified_jobs");
  if (registry.getSingleMetric("templified_queue_jobs")) registry.removeSingleMetric("templified_queue_jobs");
  new Gauge({
    name: "templified_jobs",
    help: "Jobs by status (all organisations)",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      const rows = await ctx.prisma.job.groupBy({ by: ["status"], _count: { _all: true } });
      this.reset();
      for (const r of rows) this.set({ status: r.status }, r._count._all);
    },
  });
  new Gauge({
    name: "templified_queue_jobs",
    help: "Queue depth by queue and state",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, queue] of [["render", ctx.renderQueue.queue], ["deliver", ctx.deliverQueue.queue]] as const) {
        const counts = await queue.getJobCounts("waiting", "active", "delayed", "failed").catch(() => null);
        if (counts) for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
      }
    },
  });
}

/** onResponse hook for the root instance: every route, by its pattern (not the raw URL). */
export async function recordRequestMetrics(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const labels = { method: request.method, route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) };
  httpRequests.inc(labels);
  httpDuration.observe(labels, reply.elapsedTime / 1000);
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/** `Authorization: Bearer <token>`, compared in constant time (digests, so no length leaks either). */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const given = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "")?.[1];
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

export const metricsPlugin =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    registerStateGauges(ctx);
    // With METRICS_TOKEN set, the route's scope checks it (a hook of this encapsulated scope runs for
    // every request the router matches here, however the path was spelled).
    await app.register(async (scope: FastifyInstance) => {
      const token = ctx.config.METRICS_TOKEN;
      if (token) {
        const expected = digest(token);
        scope.addHook("onRequest", async (request, reply) => {
          if (!bearerMatches(request.headers.authorization, expected)) {
            return reply.header("www-authenticate", 'Bearer realm="metrics"').status(401).send({ error: "Metrics token required: send Authorization: Bearer <METRICS_TOKEN>" });
          }
        });
      }
      scope.get("/metrics", async (_request, reply) => reply.header("content-type", registry.contentType).send(await registry.metrics()));
    });
  };
