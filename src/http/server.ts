// The HTTP server: REST under /api/v1 (OpenAPI at /openapi.json, reference at /docs), GraphQL at
// /graphql, output files, /health, /metrics, the queue dashboard — one server, one port.
import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { AppContext } from "../context.js";
import { requireApiKey } from "./auth.js";
import { adminPlugin } from "./admin.js";
import { clientErrorHandler } from "./client-errors.js";
import { errorHandler } from "./errors.js";
import { metricsPlugin, recordRequestMetrics } from "./metrics.js";
import { registerOpenApi } from "./openapi.js";
import { WEB_DIST_DIR, webPlugin } from "../web/serve.js";
import { graphqlPlugin } from "./graphql.js";
import { billingRoutes } from "./routes/billing.js";
import { deliveryRoutes } from "./routes/delivery.js";
import { designGroupsRoutes } from "./routes/design-groups.js";
import { filesRoutes } from "./routes/files.js";
import { fontsRoutes } from "./routes/fonts.js";
import { healthRoutes } from "./routes/health.js";
import { previewsRoutes } from "./routes/previews.js";
import { rendersRoutes } from "./routes/renders.js";
import { signedRendersRoutes } from "./routes/signed-renders.js";
import { signedUrlsRoutes } from "./routes/signed-urls.js";
import { templatesRoutes } from "./routes/templates.js";

export type HttpServer = ReturnType<typeof buildServer>;

export function buildServer(ctx: AppContext) {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: "http" }),
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    // Load balancers and clients reuse connections; keep them a bit longer than typical LB idle.
    keepAliveTimeout: 65_000,
    // One line per request is noise at production rates; at debug level it is what you want.
    logController: new LogController({
      disableRequestLogging: ctx.config.LOG_LEVEL !== "debug" && ctx.config.LOG_LEVEL !== "trace",
    }),
    // Shutdown waits for in-flight requests but does not keep idle keep-alive sockets open.
    forceCloseConnections: "idle",
    // What Node's parser refuses (431, 400, 408) is answered in our JSON envelope; HEAD without a body.
    clientErrorHandler,
    // A request id follows the work: the client's X-Request-Id when it sends one, else ours; it is
    // logged with the request, carried into the queue and logged by the workers.
    // Only a sane client id is taken as is (it is echoed, logged and stored); anything else is replaced.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID();
    },
  }).withTypeProvider<ZodTypeProvider>();

  // Every route as registered, with its schema: the OpenAPI test checks none lacks one.
  const routes: { method: string | string[]; url: string; schema?: Record<string, unknown> }[] = [];
  app.decorate("routeTable", routes);
  app.addHook(
    "onRoute",
    (route) =>
      void routes.push({
        method: route.method,
        url: route.url,
        schema: route.schema as Record<string, unknown> | undefined,
      }),
  );

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: Fastify's built-in text/plain parser would let a wrong content type through as a
  // string and turn a 415 into a confusing 400.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: `No route for ${request.method} ${request.url.split("?")[0]}` }),
  );
  app.addHook("onRequest", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
  app.addHook("onResponse", recordRequestMetrics);
  // Node answers an Expect other than 100-continue itself, with an empty 417; keep our JSON errors.
  app.server.on("checkExpectation", (_req, res) => {
    res
      .writeHead(417, { "content-type": "application/json; charset=utf-8" })
      .end(JSON.stringify({ error: "Unsupported Expect header: only 100-continue is supported" }));
  });

  registerOpenApi(app as unknown as FastifyInstance, ctx.config.PUBLIC_BASE_URL);
  void app.register(healthRoutes(ctx));
  void app.register(metricsPlugin(ctx));
  void app.register(adminPlugin(ctx));
  void app.register(filesRoutes(ctx));
  void app.register(signedRendersRoutes(ctx));
  void app.register(graphqlPlugin(ctx));
  void app.register(webPlugin(WEB_DIST_DIR));
  void app.register(
    async (api) => {
      api.addHook("onRequest", requireApiKey(ctx));
      await api.register(rendersRoutes(ctx));
      await api.register(previewsRoutes(ctx));
      await api.register(templatesRoutes(ctx));
      await api.register(fontsRoutes(ctx));
      await api.register(billingRoutes(ctx));
      await api.register(designGroupsRoutes(ctx));
      await api.register(deliveryRoutes(ctx));
      await api.register(signedUrlsRoutes(ctx));
    },
    { prefix: "/api/v1" },
  );
  return app;
}
