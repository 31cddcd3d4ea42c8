// The HTTP server: REST under /api/v1, GraphQL at /graphql, output files, /health — one
// server, one port.
import Fastify, { LogController } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { AppContext } from "../context.js";
import { bearerAuth } from "./auth.js";
import { errorHandler } from "./errors.js";
import { graphqlPlugin } from "./graphql.js";
import { registerRateLimit } from "./rate-limit.js";
import { billingRoutes } from "./routes/billing.js";
import { deliveryRoutes } from "./routes/delivery.js";
import { designGroupsRoutes } from "./routes/design-groups.js";
import { filesRoutes } from "./routes/files.js";
import { fontsRoutes } from "./routes/fonts.js";
import { healthRoutes } from "./routes/health.js";
import { rendersRoutes } from "./routes/renders.js";
import { templatesRoutes } from "./routes/templates.js";

export type HttpServer = ReturnType<typeof buildServer>;

export function buildServer(ctx: AppContext) {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: "http" }),
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    // Load balancers and clients reuse connections; keep them a bit longer than typical LB idle.
    keepAliveTimeout: 65_000,
    // One line per request is noise at production rates; at debug level it is what you want.
    logController: new LogController({ disableRequestLogging: ctx.config.LOG_LEVEL !== "debug" && ctx.config.LOG_LEVEL !== "trace" }),
    // Shutdown waits for in-flight requests but does not keep idle keep-alive sockets open.
    forceCloseConnections: "idle",
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: Fastify's built-in text/plain parser would let a wrong content type through as a
  // string and turn a 415 into a confusing 400.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ error: `No route for ${request.method} ${request.url.split("?")[0]}` }));

  void app.register(healthRoutes(ctx));
  void app.register(filesRoutes(ctx));
  void app.register(graphqlPlugin(ctx));
  void app.register(
    async (api) => {
      await registerRateLimit(api, ctx);
      api.addHook("onRequest", bearerAuth(ctx.prisma));
      await api.register(rendersRoutes(ctx));
      await api.register(templatesRoutes(ctx));
      await api.register(fontsRoutes(ctx));
      await api.register(billingRoutes(ctx));
      await api.register(designGroupsRoutes(ctx));
      await api.register(deliveryRoutes(ctx));
    },
    { prefix: "/api/v1" },
  );
  return app;
}
