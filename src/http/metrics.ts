// GET /metrics: the registry of src/observability/metrics.ts in Prometheus's text format, and the
// hook that counts every request by route. METRICS_TOKEN, when set, puts /metrics behind
// `Authorization: Bearer <token>`.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";
import { httpDuration, httpRequests, registerStateGauges, registry } from "../observability/metrics.js";

/** onResponse hook for the root instance: every route, by its pattern (not the raw URL). */
export async function recordRequestMetrics(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const labels = {
    method: request.method,
    route: request.routeOptions.url ?? "unmatched",
    status: String(reply.statusCode),
  };
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
            return reply
              .header("www-authenticate", 'Bearer realm="metrics"')
              .status(401)
              .send({ error: "Metrics token required: send Authorization: Bearer <METRICS_TOKEN>" });
          }
        });
      }
      scope.get("/metrics", async (_request, reply) =>
        reply.header("content-type", registry.contentType).send(await registry.metrics()),
      );
    });
  };
