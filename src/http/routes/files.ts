// Serves rendered outputs from storage at their output_url. Unguessable job ids in the key make
// the URL a capability, as with the commercial services' CDN links.
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../../context.js";
import { contentTypeForKey } from "../../storage/content-type.js";
import { isRenderKey } from "../../storage/storage.js";
import { HttpError } from "../errors.js";

export const filesRoutes =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Params: { key: string } }>("/renders/:key", async (request, reply) => {
      const object = isRenderKey(request.params.key) ? await ctx.storage.get(request.params.key) : null;
      if (!object) throw new HttpError(404, "file not found");
      return reply
        .header("content-type", contentTypeForKey(request.params.key))
        .header("content-length", object.size)
        .header("cache-control", "public, max-age=31536000, immutable")
        .send(object.stream);
    });
  };
