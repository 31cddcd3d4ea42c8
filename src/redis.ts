// Redis connections. Each user gets the behaviour it needs: BullMQ workers block and must retry
// forever (maxRetriesPerRequest: null); request paths fail fast instead of hanging a client.
import { Redis, type RedisOptions } from "ioredis";
import { redactUrl } from "./config.js";

export class ServiceUnavailableError extends Error {}

/** Connects once, fails with one line saying what is missing and how to start it. */
export async function checkRedis(url: string): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3_000,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const reason = (e as { code?: string; message?: string }).code ?? (e as Error).message;
    throw new ServiceUnavailableError(
      `Redis is not reachable at ${redactUrl(url)} (${reason}). Start it, e.g. \`redis-server --daemonize yes\`, or set REDIS_URL.`,
    );
  } finally {
    probe.disconnect();
  }
}

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { connectTimeout: 5_000, ...options });
}
