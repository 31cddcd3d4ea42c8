// GET /health: 200 when Postgres and Redis both answer, 503 (naming what is down) otherwise.
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../../context.js";
import { Health, Unhealthy } from "../responses.js";

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);

export const healthRoutes =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    app.get(
      "/health",
      {
        schema: {
          operationId: "getHealth",
          summary: "Is the service able to answer",
          tags: ["Operations"],
          // No key: load balancers and orchestrators probe it.
          security: [],
          response: { 200: Health, 503: Unhealthy },
        },
      },
      async (_request, reply) => {
        const [db, redis] = await Promise.allSettled([
          withTimeout(ctx.db.ping(), 2000),
          withTimeout(ctx.redis.ping(), 2000),
        ]);
        const down = [db.status === "rejected" && "database", redis.status === "rejected" && "redis"].filter(Boolean);
        if (down.length === 0) return { status: "ok" };
        return reply.status(503).send({ status: "unavailable", error: `${down.join(" and ")} not answering` });
      },
    );
  };
