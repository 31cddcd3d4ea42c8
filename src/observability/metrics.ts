// The process's Prometheus metrics (prom-client), in one registry every layer may feed: the HTTP
// server (requests, latency, balance refusals), the workers (render time, delivery attempts) and
// the gauges read at scrape time (jobs by status, queue depth). When API and workers share a
// process (npm start), one scrape sees them all. /metrics itself is served by src/http/metrics.ts.
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
      for (const [name, queue] of [
        ["render", ctx.renderQueue.queue],
        ["deliver", ctx.deliverQueue.queue],
      ] as const) {
        const counts = await queue
          .getJobCounts("waiting", "prioritized", "active", "delayed", "failed")
          .catch(() => null);
        if (counts) for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
      }
    },
  });
}
