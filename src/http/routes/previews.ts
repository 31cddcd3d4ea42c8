// POST /api/v1/previews: a document, or a saved template with modifications, rendered inline for
// an editor — no job, no charge, nothing stored (src/previews/preview-service.ts). The answer is
// the image itself.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { renderPreview } from "../../previews/preview-service.js";
import { ErrorBody } from "../../views/errors.js";
import { PreviewInput } from "../../views/requests.js";
import { principalOf } from "../auth.js";
import { JSON_BODY_ERRORS, keyedErrors, RETRY_AFTER } from "../responses.js";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

export const previewsRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      "/previews",
      {
        schema: {
          operationId: "createPreview",
          summary: "Preview a document or template (inline image, free, nothing stored)",
          description:
            "Renders `document`, or the latest version of `template_id` with `modifications`, and answers the image itself: no job, no charge, no stored output. `scale` is at most 1. Background removal is not run (`X-Preview-Notes` says so). Limited per API key by a bucket of its own (PREVIEW_RATE_LIMIT_MAX per PREVIEW_RATE_LIMIT_WINDOW_MS) and to PREVIEW_MAX_IN_FLIGHT previews at once.",
          tags: ["Renders"],
          body: PreviewInput,
          response: {
            // The bytes are sent as they are; the schema documents them.
            200: {
              description: "The image",
              headers: {
                "x-render-ms": { type: "integer", description: "The render worker's time for the preview, in ms" },
                "x-preview-notes": {
                  type: "string",
                  description:
                    "What the preview left out that a render does (e.g. background removal), separated by '; '",
                },
                "cache-control": { type: "string", description: "no-store" },
              },
              content: Object.fromEntries(
                IMAGE_TYPES.map((type) => [type, { schema: z.string().meta({ format: "binary" }) }]),
              ),
            },
            ...keyedErrors(...JSON_BODY_ERRORS, 402, 404),
            422: ErrorBody.meta({
              description: "The preview's render failed (e.g. an image_url that cannot be fetched)",
              examples: [{ error: 'image layer "photo": image_url answered 404' }],
            }),
            503: ErrorBody.meta({
              description: "No render worker answered the preview in PREVIEW_TIMEOUT_MS, or PostgreSQL is unavailable",
              examples: [{ error: "no render worker answered the preview in 10 s" }],
              headers: RETRY_AFTER,
            }),
          },
        },
      },
      async (request, reply) => {
        const preview = await renderPreview(ctx, principalOf(request), request.body);
        void reply
          .header("content-type", preview.contentType)
          .header("cache-control", "no-store")
          .header("x-render-ms", String(preview.renderMs));
        if (preview.notes.length > 0) void reply.header("x-preview-notes", asciiHeader(preview.notes.join("; ")));
        return reply.send(preview.image);
      },
    );
  };

/** Header values are ASCII: anything else (a layer name, say) becomes '?'. */
const asciiHeader = (text: string) => text.replace(/[^\x20-\x7e]/g, "?");
