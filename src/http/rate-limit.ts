// Rate limits as HTTP shows them: the IETF RateLimit-* headers on every limited answer and
// Retry-After on a 429. The counting itself is src/auth/rate-limiter.ts, shared with graphql-ws.
import type { FastifyReply } from "fastify";
import type { RateDecision } from "../auth/rate-limiter.js";

export function setRateLimitHeaders(reply: FastifyReply, decision: RateDecision | null): void {
  if (!decision) return;
  void reply.header("ratelimit-limit", String(decision.limit));
  void reply.header("ratelimit-remaining", String(decision.remaining));
  void reply.header("ratelimit-reset", String(decision.resetSeconds));
  if (!decision.allowed) void reply.header("retry-after", String(decision.resetSeconds));
}
