// Who is asking, and may they ask now: the API key (one parser, src/auth/bearer.ts) and its
// rate-limit bucket, for REST and GraphQL over HTTP alike. Unknown and missing keys are both
// 401 on REST. Requests without a usable key are limited by address, so guessing keys costs
// the guesser their budget rather than ours.
import type { FastifyReply, FastifyRequest } from "fastify";
import { authenticateApiKey, type Principal } from "../auth/api-keys.js";
import { parseApiKey } from "../auth/bearer.js";
import { RateLimitedError } from "../auth/rate-limiter.js";
import type { AppContext } from "../context.js";
import { HttpError } from "./errors.js";
import { setRateLimitHeaders } from "./rate-limit.js";

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const MISSING_KEY = "Missing API key: send Authorization: Bearer <api key>";
const INVALID_KEY = "Invalid API key";

/**
 * The rate-limit bucket of a principal, or of an address when there is none. An IPv6 client
 * usually holds a whole /64, so its addresses share one bucket (IPv4-mapped ones are IPv4).
 */
export const bucketOf = (principal: Principal | null, ip: string) =>
  principal ? `key:${principal.apiKeyId}` : `ip:${addressBucket(ip)}`;

function addressBucket(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(":")) return ip;
  // Expand "::" so the first four groups are the /64 prefix.
  const [head = "", tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = ip.includes("::") && tail ? tail.split(":") : [];
  const groups = ip.includes("::")
    ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : ip.split(":");
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * Authenticates the request's key and spends one point of its bucket (setting the RateLimit-*
 * headers). Returns the principal, or null when no key was sent. Throws HttpError 401 for a key
 * that is not (or no longer) valid, RateLimitedError past the limit.
 */
export async function admitRequest(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<Principal | null> {
  const key = parseApiKey(request.headers.authorization);
  const principal = key ? await authenticateApiKey(ctx.prisma, key) : null;
  const decision = await ctx.limits.requests.consume(bucketOf(principal, request.ip));
  setRateLimitHeaders(reply, decision);
  if (decision && !decision.allowed) throw new RateLimitedError(decision, ctx.limits.requests.options.describe);
  if (key && !principal) throw new HttpError(401, INVALID_KEY);
  if (principal) request.principal = principal;
  return principal;
}

/**
 * onRequest hook for the public routes that serve images without a key (outputs, signed render
 * URLs): limited by address like any request without a key (each answer reads storage: on S3, a
 * billed GET), and `Cache-Control: no-store` until a success sets its own, so no cache keeps a
 * 403, 404, 410 or 429 in place of the image.
 */
export function limitByAddress(ctx: AppContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    void reply.header("cache-control", "no-store");
    const decision = await ctx.limits.requests.consume(bucketOf(null, request.ip));
    setRateLimitHeaders(reply, decision);
    if (decision && !decision.allowed) throw new RateLimitedError(decision, ctx.limits.requests.options.describe);
  };
}

/** onRequest hook for routes that need a key (REST /api/v1). */
export function requireApiKey(ctx: AppContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!(await admitRequest(ctx, request, reply))) throw new HttpError(401, MISSING_KEY);
  };
}

/** The authenticated principal; routes behind requireApiKey always have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new HttpError(401, MISSING_KEY);
  return request.principal;
}
