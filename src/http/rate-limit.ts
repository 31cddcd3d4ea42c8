// Per-API-key rate limit, counted in Redis so it holds across API instances. 429 carries
// Retry-After and the IETF RateLimit-* headers. If Redis is away the limit is skipped rather
// than failing requests (availability over strictness).
import { createHash } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";
import { HttpError } from "./errors.js";

// The bearer token itself identifies the key without a database round trip; hash it so the
// Redis keys never hold secrets. Unauthenticated requests are limited by address.
const clientKey = (request: FastifyRequest) => {
  const auth = request.headers.authorization;
  return auth ? `key:${createHash("sha256").update(auth).digest("hex").slice(0, 32)}` : `ip:${request.ip}`;
};

export async function registerRateLimit(app: FastifyInstance, ctx: AppContext): Promise<void> {
  if (ctx.config.RATE_LIMIT_MAX === 0) return;
  await app.register(rateLimit, {
    max: ctx.config.RATE_LIMIT_MAX,
    timeWindow: ctx.config.RATE_LIMIT_WINDOW_MS,
    redis: ctx.redis,
    nameSpace: `${ctx.config.QUEUE_PREFIX}:ratelimit:`,
    keyGenerator: clientKey,
    skipOnError: true,
    enableDraftSpec: true,
    // Thrown by the plugin, so it goes through the shared error handler like every other error.
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `Rate limit exceeded: ${context.max} requests per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`),
  });
}
