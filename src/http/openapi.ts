// OpenAPI 3.1 for the REST API, generated from the same zod schemas that validate requests and
// serialise responses (fastify-type-provider-zod's transform; src/http/responses.ts): served at
// /openapi.json, with an interactive reference at /docs. Registered before the routes, so every
// route is collected. test/openapi-tools.test.ts lints it with Redocly and builds a client from it.
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { jsonSchemaTransform } from "fastify-type-provider-zod";

const TAGS = [
  ["Renders", "Render jobs: create, poll, and the output images"],
  ["Templates", "Templates and their versions"],
  ["Design groups", "Named sets of templates rendered together"],
  ["Fonts", "Uploaded fonts"],
  ["Billing", "Balance, prices and the ledger"],
  ["Webhooks", "Webhook deliveries and the signing secret"],
  ["Send-To presets", "Saved Send-To destinations"],
  ["Studio export", "Render and send to one destination"],
  ["Operations", "Health"],
] as const;

export function registerOpenApi(app: FastifyInstance, publicBaseUrl: string): void {
  // On the root instance (not inside a plugin), so its onRoute hook sees every route.
  void app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Templified API",
        version: "1.0.0",
        license: { name: "MIT", identifier: "MIT" },
        description:
          'Template-to-image rendering. Every /api/v1 route takes `Authorization: Bearer <api key>`; /health and the output images need none. Errors are JSON `{"error": "…"}` (validation errors add `details`).',
      },
      // Where this instance says it is reached (PUBLIC_BASE_URL, the base of its output URLs).
      servers: [{ url: publicBaseUrl, description: "This instance" }],
      tags: TAGS.map(([name, description]) => ({ name, description })),
      components: {
        securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "Your API key (tk_live_…)" } },
      },
      // The default; public routes say `security: []` on their own.
      security: [{ apiKey: [] }],
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      // GraphQL, the metrics and the operators' dashboard are not part of the REST reference.
      if (/^\/(graphql|metrics|admin|docs)/.test(input.url)) return { ...out, schema: { ...out.schema, hide: true } };
      // A route whose body is raw bytes (the font upload) has no body schema, since nothing
      // validates the bytes; it names its content types in `consumes`, and this documents the body.
      const schema = out.schema as Record<string, unknown> | undefined;
      // fastify-type-provider-zod keeps only the description and content of a response given by
      // content type (an image): its headers (X-Render-Ms, ETag, ...) are put back.
      type Given = { response?: Record<string, { content?: unknown; headers?: unknown }> } | undefined;
      const given = (input.schema as Given)?.response;
      const made = schema?.response as Record<string, Record<string, unknown>> | undefined;
      for (const [status, response] of Object.entries(given ?? {}))
        if (response.content && response.headers && made?.[status]) made[status].headers = response.headers;
      if (schema?.consumes && !schema.body)
        return { ...out, schema: { ...schema, body: { type: "string", format: "binary" } } };
      return out;
    },
  });
  void app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list", deepLinking: true } });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
