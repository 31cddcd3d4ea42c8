// Serves rendered outputs from storage (disk or bucket, streamed through) at their output_url.
// Unguessable job ids in the key make the URL a capability, as with the commercial services' CDN
// links; with OUTPUT_LINKS=signed the link must also carry a valid, unexpired signature
// (src/storage/output-links.ts). An output the retention policy deleted answers 410, not 404, so a
// client can tell "gone for good" from "never".
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { contentTypeForKey } from "../../storage/content-type.js";
import { outputDeletedAt, outputExpiredMessage } from "../../storage/retention.js";
import { isRenderKey, OUTPUT_CACHE_CONTROL } from "../../storage/storage.js";
import { limitByAddress } from "../auth.js";
import { HttpError } from "../errors.js";
import { errors } from "../responses.js";

const Params = z.object({ key: z.string() });
const Query = z.object({
  expires: z
    .string()
    .optional()
    .meta({ description: "OUTPUT_LINKS=signed: when the link stops working (unix seconds)" }),
  signature: z.string().optional().meta({ description: "OUTPUT_LINKS=signed: the link's HMAC-SHA256, hex" }),
});

export const filesRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      "/renders/:key",
      {
        schema: {
          operationId: "getRenderOutput",
          summary: "Download a rendered image (the job's output_url)",
          tags: ["Renders"],
          // No key: the unguessable job id in the name (and, when signed, the signature) is the capability.
          security: [],
          params: Params,
          querystring: Query,
          response: {
            // The stream is sent as is (Fastify serialises no stream); the schema documents it.
            200: {
              description: "The image",
              content: Object.fromEntries(
                ["image/png", "image/jpeg", "image/webp"].map((type) => [
                  type,
                  { schema: z.string().meta({ format: "binary" }) },
                ]),
              ),
            },
            ...errors(403, 404, 410, 429, 500),
          },
        },
        onRequest: limitByAddress(ctx),
      },
      async (request, reply) => {
        const { key } = request.params;
        if (!isRenderKey(key)) throw new HttpError(404, "file not found");
        // Before the storage is asked anything: an unsigned request learns nothing, not even 404 or 410.
        const refusal = ctx.outputLinks.refusal(key, request.query);
        if (refusal) throw new HttpError(403, refusal);
        const object = await ctx.storage.get(key);
        if (!object) {
          const deletedAt = await outputDeletedAt(ctx.sql, key);
          if (!deletedAt) throw new HttpError(404, "file not found");
          return reply.code(410).send({
            error: outputExpiredMessage(ctx.config.OUTPUT_RETENTION_DAYS),
            output_expired_at: deletedAt.toISOString(),
          });
        }
        // A signed link must not outlive its expiry in a cache; a public one never changes.
        const expires = Number(request.query.expires);
        const cacheControl =
          ctx.config.OUTPUT_LINKS === "signed"
            ? `private, max-age=${Math.max(0, expires - Math.floor(Date.now() / 1000))}`
            : OUTPUT_CACHE_CONTROL;
        return reply
          .header("content-type", object.contentType ?? contentTypeForKey(key))
          .header("content-length", object.size)
          .header("cache-control", cacheControl)
          .send(object.stream);
      },
    );
  };
