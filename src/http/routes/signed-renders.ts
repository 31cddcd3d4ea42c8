// GET /signed/v1/<org_id>/<template_id>.<format>?m=…&s=… — a signed render URL, without a key:
// the signature is the capability (src/signed-urls/). Answers the image, rendering it on the
// first GET; errors are JSON and never cacheable.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { fetchSignedRender } from "../../signed-urls/render.js";
import { SIGNED_URL_PREFIX } from "../../signed-urls/url.js";
import { SignatureError, verifySignedUrl } from "../../signed-urls/verify.js";
import { contentTypeForKey } from "../../storage/content-type.js";
import { ErrorBody } from "../../views/errors.js";
import { limitByAddress } from "../auth.js";
import { HttpError } from "../errors.js";
import { errors, NoContent, RETRY_AFTER } from "../responses.js";

const Params = z.object({
  org_id: z.string().max(100),
  file: z.string().max(200).meta({ description: "<template_id>.<format>: png, jpeg or webp" }),
});
// Loose: a parameter beyond m and s is a 403 (the signature does not cover it), not a 400.
const Query = z.looseObject({
  m: z.string().optional().meta({ description: "base64url of the canonical JSON of the render's other inputs" }),
  s: z.string().optional().meta({ description: "hex HMAC-SHA256 of `<path>?m=<m>` under the URL signing secret" }),
});

/** The content of a signed URL never changes: caches may keep it for a year without asking. */
const IMMUTABLE = "public, max-age=31536000, immutable";
/** How long a GET that found its render still running suggests waiting. */
const RETRY_SECONDS = 2;

export const signedRendersRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      `${SIGNED_URL_PREFIX}/:org_id/:file`,
      {
        schema: {
          operationId: "getSignedRender",
          summary: "The image of a signed render URL",
          description:
            "No key: the signature is the capability. The first GET renders (charged to the organisation once; 402 as for any render) and waits up to SYNC_TIMEOUT_MS; later GETs serve the stored image. Cache-Control immutable, a strong ETag; If-None-Match answers 304.",
          tags: ["Signed URLs"],
          security: [],
          params: Params,
          querystring: Query,
          response: {
            200: {
              description: "The image",
              headers: {
                etag: { type: "string", description: "The signed content's digest, quoted" },
                "cache-control": { type: "string", description: IMMUTABLE },
              },
              content: Object.fromEntries(
                ["image/png", "image/jpeg", "image/webp"].map((type) => [
                  type,
                  { schema: z.string().meta({ format: "binary" }) },
                ]),
              ),
            },
            304: NoContent.meta({ description: "If-None-Match named this URL's ETag: the image is unchanged" }),
            ...errors(400, 402, 403, 404, 429, 500, 502),
            503: ErrorBody.meta({
              description: `Still rendering after SYNC_TIMEOUT_MS (or PostgreSQL unavailable): retry after Retry-After`,
              examples: [{ error: "still rendering; retry shortly" }],
              headers: RETRY_AFTER,
            }),
          },
        },
        // Anonymous: limited by address like any request without a key. Each distinct URL renders
        // once, so the limit guards the serving path, not the organisation's balance.
        onRequest: limitByAddress(ctx),
      },
      async (request, reply) => {
        const signed = await verifySignedUrl(ctx, {
          orgId: request.params.org_id,
          file: request.params.file,
          query: request.query,
        }).catch((e: unknown) => {
          throw e instanceof SignatureError ? new HttpError(403, e.message) : e;
        });
        const etag = `"${signed.digest}"`;
        // One URL, one content: whoever holds the ETag holds the image.
        const ifNoneMatch = request.headers["if-none-match"];
        if (ifNoneMatch && ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag))
          return reply.status(304).header("etag", etag).header("cache-control", IMMUTABLE).send(null);

        const gone = new AbortController();
        request.raw.once("close", () => gone.abort());
        const outcome = await fetchSignedRender(ctx, signed, {
          waitMs: ctx.config.SYNC_TIMEOUT_MS,
          signal: gone.signal,
          requestId: request.id,
        });
        if (outcome.kind === "rendering")
          return reply
            .status(503)
            .header("retry-after", String(RETRY_SECONDS))
            .send({ error: "still rendering; retry shortly" });
        // Why it failed stays with the organisation (the job, read with its key): an anonymous
        // caller learns only that it did, which job, and when a GET may render it again.
        if (outcome.kind === "failed")
          return reply
            .status(502)
            .header("retry-after", String(outcome.retryAfterSeconds))
            .send({ error: "render failed; the organisation can read why on the job", job_id: outcome.jobId });
        return reply
          .header("content-type", contentTypeForKey(outcome.key))
          .header("content-length", outcome.size)
          .header("cache-control", IMMUTABLE)
          .header("etag", etag)
          .send(outcome.stream);
      },
    );
  };
