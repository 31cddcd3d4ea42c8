// Keyed routes of signed render URLs: create one (POST /api/v1/signed-urls), and show or rotate
// the organisation's URL signing secret that builds them offline.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { AppContext } from "../../context.js";
import { createSignedUrl } from "../../signed-urls/render.js";
import { rotateUrlSigningSecret, urlSigningSecretView } from "../../signed-urls/secrets.js";
import { SignedRenderInput, SignedUrl, UrlSigningSecret } from "../../views/signed-urls.js";
import { principalOf } from "../auth.js";
import { JSON_BODY_ERRORS, keyedErrors } from "../responses.js";

export const signedUrlsRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      "/signed-urls",
      {
        schema: {
          operationId: "createSignedUrl",
          summary: "A signed render URL anyone can GET",
          description:
            "Nothing is rendered or charged now: the URL's first GET renders (charged once), later GETs serve the stored image. Takes POST /api/v1/create's body without webhook_url and send_to. The same body always gives the same URL (while the secret is the same).",
          tags: ["Signed URLs"],
          body: SignedRenderInput,
          response: { 201: SignedUrl, ...keyedErrors(...JSON_BODY_ERRORS, 404) },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(await createSignedUrl(ctx, principalOf(request).orgId, request.body, ctx.config.PUBLIC_BASE_URL)),
    );

    app.get(
      "/signed-urls/secret",
      {
        schema: {
          operationId: "getUrlSigningSecret",
          summary: "The organisation's URL signing secret (created on first use)",
          tags: ["Signed URLs"],
          response: { 200: UrlSigningSecret, ...keyedErrors() },
        },
      },
      async (request) => urlSigningSecretView(ctx, principalOf(request).orgId),
    );
    app.post(
      "/signed-urls/secret/rotate",
      {
        schema: {
          operationId: "rotateUrlSigningSecret",
          summary: "A new URL signing secret; URLs signed with the old one keep working for 24 hours",
          tags: ["Signed URLs"],
          response: { 200: UrlSigningSecret, ...keyedErrors() },
        },
      },
      async (request) => rotateUrlSigningSecret(ctx, principalOf(request).orgId),
    );
  };
