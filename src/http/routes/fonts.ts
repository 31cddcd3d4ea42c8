// Uploaded fonts: POST the file itself as the body (curl --data-binary @Brand.ttf); family,
// weight and style are read from the file unless given in the query string.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { SHIPPED_FONT_FAMILIES } from "../../templates/document.js";
import {
  deleteFont,
  FontTooLargeError,
  FontUploadOptions,
  fontView,
  listFonts,
  uploadFont,
} from "../../templates/fonts.js";
import { principalOf } from "../auth.js";
import { HttpError } from "../errors.js";
import { Font, FontList, keyedErrors, NoContent } from "../responses.js";

const tags = ["Fonts"];

const FONT_TYPES = [
  "font/ttf",
  "font/otf",
  "font/woff",
  "font/sfnt",
  "application/font-woff",
  "application/x-font-ttf",
  "application/x-font-otf",
  "application/octet-stream",
];

export const fontsRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    // Font files arrive as raw bytes; this parser exists only inside this plugin's routes.
    app.addContentTypeParser(
      FONT_TYPES,
      { parseAs: "buffer", bodyLimit: ctx.config.FONT_MAX_BYTES },
      (_req, body, done) => done(null, body),
    );

    app.post(
      "/fonts",
      {
        schema: {
          operationId: "uploadFont",
          summary: "Upload a font file",
          description:
            "The body is the font file itself (curl --data-binary @Brand.ttf); family, weight and style are read from the file unless given in the query string.",
          tags,
          querystring: FontUploadOptions,
          // Documentation only (src/http/openapi.ts turns it into the request body): the bytes
          // are parsed above, not validated by a schema.
          consumes: FONT_TYPES,
          response: {
            201: Font,
            // 400: an unreadable font or a bad query; 413: over FONT_MAX_BYTES; 415: not a font type.
            ...keyedErrors(400, 413, 415),
          },
        },
        bodyLimit: ctx.config.FONT_MAX_BYTES,
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body))
          throw new HttpError(
            415,
            `Send the font file as the body with Content-Type ${FONT_TYPES.slice(0, 3).join(", ")} or application/octet-stream`,
          );
        try {
          const font = await uploadFont(
            ctx,
            principalOf(request).orgId,
            request.body,
            request.query,
            ctx.config.FONT_MAX_BYTES,
          );
          return reply.status(201).send(fontView(font));
        } catch (e) {
          if (e instanceof FontTooLargeError) throw new HttpError(413, e.message);
          throw e;
        }
      },
    );

    app.get(
      "/fonts",
      {
        schema: {
          operationId: "listFonts",
          summary: "List the built-in and the uploaded fonts",
          tags,
          response: { 200: FontList, ...keyedErrors() },
        },
      },
      async (request) => ({
        built_in: SHIPPED_FONT_FAMILIES.map((family) => ({
          family,
          weights: [100, 200, 300, 400, 500, 600, 700, 800, 900],
          styles: ["normal", "italic"],
        })),
        data: (await listFonts(ctx.prisma, principalOf(request).orgId)).map(fontView),
      }),
    );

    app.delete(
      "/fonts/:font_id",
      {
        schema: {
          operationId: "deleteFont",
          summary: "Delete an uploaded font",
          tags,
          params: z.object({ font_id: z.string().max(100) }),
          response: { 204: NoContent, ...keyedErrors(400, 404) },
        },
      },
      async (request, reply) => {
        await deleteFont(ctx, principalOf(request).orgId, request.params.font_id);
        return reply.status(204).send(null);
      },
    );
  };
