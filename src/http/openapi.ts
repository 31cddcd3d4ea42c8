// OpenAPI 3.1 for the REST API, generated from the same zod schemas that validate requests
// (fastify-type-provider-zod's transform): served at /openapi.json, with an interactive
// reference at /docs. Registered before the routes, so every route is collected.
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { jsonSchemaTransform } from "fastify-type-provider-zod";

export function registerOpenApi(app: FastifyInstance): void {
  // On the root instance (not inside a plugin), so its onRoute hook sees every route.
  void app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Templified API",
        version: "1.0.0",
        description:
          'Template-to-image rendering. Every /api/v1 route takes `Authorization: Bearer <api key>`. Errors are JSON `{"error": "…"}`.',
      },
      components: {
        securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "Your API key (tk_live_…)" } },
      },
      security: [{ apiKey: [] }],
    },
    // GraphQL, the metrics and the operators' dashboard are not part of the REST reference.
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      return /^\/(graphql|metrics|admin|docs)/.test(input.url)
        ? { ...out, schema: { ...out.schema, hide: true } }
        : out;
    },
  });
  void app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list", deepLinking: true } });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
