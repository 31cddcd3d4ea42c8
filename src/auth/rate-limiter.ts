// Rate limits, counted in Redis so they hold across API instances (rate-limiter-flexible's
// fixed window). Knows nothing of HTTP: REST, GraphQL over HTTP and graphql-ws all consume the
// same buckets, so a key has one budget whichever way it talks to us.
//
// If Redis is away the limit is skipped rather than failing requests (availability over
// strictness): renders are still paid for, so skipping costs no money.
import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

export interface RateDecision {
  allowed: boolean;
  /** Points in one window. */
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** Thrown where a caller prefers an exception; carries the decision for the answer's headers. */
export class RateLimitedError extends Error {
  constructor(
    readonly decision: RateDecision,
    what: string,
  ) {
    super(`Rate limit exceeded: ${decision.limit} ${what}; retry in ${decision.resetSeconds} s`);
  }
}

interface RateLimiterOptions {
  /** Redis key prefix, e.g. "templified:ratelimit:requests". */
  prefix: string;
  /** Points per window; 0 turns the limiter off. */
  max: number;
  /** Window length in ms, counted in whole seconds (at least one). */
  windowMs: number;
  /** "requests per 1 second": how the limit reads in error messages. */
  describe: string;
}

class RateLimiter {
  private readonly limiter: RateLimiterRedis | null;

  constructor(
    redis: Redis,
    readonly options: RateLimiterOptions,
  ) {
    this.limiter =
      options.max > 0
        ? new RateLimiterRedis({
            storeClient: redis,
            keyPrefix: options.prefix,
            points: options.max,
            duration: Math.max(1, Math.round(options.windowMs / 1000)),
            // Fail fast when Redis is down instead of queueing behind its reconnects.
            rejectIfRedisNotReady: true,
          })
        : null;
  }

  get enabled(): boolean {
    return this.limiter !== null;
  }

  /** Spends one point of `bucket`. Null when the limiter is off or Redis did not answer. */
  async consume(bucket: string): Promise<RateDecision | null> {
    if (!this.limiter) return null;
    const limit = this.options.max;
    const decide = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
      allowed,
      limit,
      remaining: Math.max(0, res.remainingPoints),
      resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    });
    try {
      return decide(await this.limiter.consume(bucket), true);
    } catch (err) {
      if (err instanceof RateLimiterRes) return decide(err, false);
      return null; // Redis error: skip the limit
    }
  }

  /** Like consume, but throws RateLimitedError past the limit. */
  async enforce(bucket: string): Promise<RateDecision | null> {
    const decision = await this.consume(bucket);
    if (decision && !decision.allowed) throw new RateLimitedError(decision, this.options.describe);
    return decision;
  }
}

/** The process's limiters; built once from configuration. */
export interface RateLimits {
  /** REST requests and GraphQL operations (HTTP, SSE and WebSocket), per API key. */
  requests: RateLimiter;
  /** Previews (REST and GraphQL), per API key, besides the request they are. */
  previews: RateLimiter;
  /** Webhook redeliveries, per organisation. */
  redeliveries: RateLimiter;
}

export function createRateLimits(
  redis: Redis,
  settings: {
    prefix: string;
    requestMax: number;
    requestWindowMs: number;
    previewMax: number;
    previewWindowMs: number;
    redeliverMaxPerHour: number;
  },
): RateLimits {
  const seconds = Math.max(1, Math.round(settings.requestWindowMs / 1000));
  const previewSeconds = Math.max(1, Math.round(settings.previewWindowMs / 1000));
  return {
    requests: new RateLimiter(redis, {
      prefix: `${settings.prefix}:ratelimit:requests`,
      max: settings.requestMax,
      windowMs: settings.requestWindowMs,
      describe: `requests per ${seconds} s`,
    }),
    previews: new RateLimiter(redis, {
      prefix: `${settings.prefix}:ratelimit:previews`,
      max: settings.previewMax,
      windowMs: settings.previewWindowMs,
      describe: `previews per ${previewSeconds} s`,
    }),
    redeliveries: new RateLimiter(redis, {
      prefix: `${settings.prefix}:ratelimit:redeliveries`,
      max: settings.redeliverMaxPerHour,
      windowMs: 3_600_000,
      describe: "webhook redeliveries per hour",
    }),
  };
}
