// Serves rendered outputs from storage (disk or bucket, streamed through) at their output_url. Unguessable job ids in the key make
// the URL a capability, as with the commercial services' CDN links.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { contentTypeForKey } from "../../storage/content-type.js";
import { isRenderKey, OUTPUT_CACHE_CONTROL } from "../../storage/storage.js";
import { HttpError } from "../errors.js";
import { errors } from "../responses.js";

const Params = z.object({ key: z.string() });

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
          // No key: the unguessable job id in the name is the capability.
          security: [],
          params: Params,
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
            ...errors(404, 500),
          },
        },
      },
      async (request, reply) => {
        const object = isRenderKey(request.params.key) ? await ctx.storage.get(request.params.key) : null;
        if (!object) throw new HttpError(404, "file not found");
        return reply
          .header("content-type", object.contentType ?? contentTypeForKey(request.params.key))
          .header("content-length", object.size)
          .header("cache-control", OUTPUT_CACHE_CONTROL)
          .send(object.stream);
      },
    );
  };
