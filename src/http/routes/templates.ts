// Templates: create, list (newest first, keyset-paginated), get, update (new version), delete,
// and the version history.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { PageQuery } from "../../db/pagination.js";
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  templateVersionView,
  templateView,
  updateTemplate,
} from "../../templates/service.js";
import { principalOf } from "../auth.js";
import { JSON_BODY_ERRORS, keyedErrors, list, NoContent, page, Template, TemplateVersion } from "../responses.js";
import { TemplateInput } from "../../views/requests.js";

const tags = ["Templates"];

const Params = z.object({ template_id: z.string().max(100) });

export const templatesRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      "/templates",
      {
        schema: {
          operationId: "createTemplate",
          summary: "Create a template",
          tags,
          body: TemplateInput,
          response: { 201: Template, ...keyedErrors(...JSON_BODY_ERRORS) },
        },
      },
      async (request, reply) => {
        const template = await createTemplate(ctx.prisma, principalOf(request).orgId, request.body);
        return reply.status(201).send(templateView(template));
      },
    );

    app.get(
      "/templates",
      {
        schema: {
          operationId: "listTemplates",
          summary: "List templates, newest first",
          tags,
          querystring: PageQuery,
          response: { 200: page(Template), ...keyedErrors(400) },
        },
      },
      async (request) => {
        const page = await listTemplates(ctx.prisma, principalOf(request).orgId, request.query);
        return { data: page.data.map(templateView), next_cursor: page.next_cursor };
      },
    );

    app.get(
      "/templates/:template_id",
      {
        schema: {
          operationId: "getTemplate",
          summary: "Get a template",
          tags,
          params: Params,
          response: { 200: Template, ...keyedErrors(400, 404) },
        },
      },
      async (request) =>
        templateView(await getTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id)),
    );

    app.put(
      "/templates/:template_id",
      {
        schema: {
          operationId: "updateTemplate",
          summary: "Replace a template's document (a new version)",
          tags,
          params: Params,
          body: TemplateInput,
          response: { 200: Template, ...keyedErrors(...JSON_BODY_ERRORS, 404) },
        },
      },
      async (request) =>
        templateView(
          await updateTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id, request.body),
        ),
    );

    app.delete(
      "/templates/:template_id",
      {
        schema: {
          operationId: "deleteTemplate",
          summary: "Delete a template",
          tags,
          params: Params,
          response: { 204: NoContent, ...keyedErrors(400, 404) },
        },
      },
      async (request, reply) => {
        await deleteTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      "/templates/:template_id/versions",
      {
        schema: {
          operationId: "listTemplateVersions",
          summary: "List a template's versions",
          tags,
          params: Params,
          response: { 200: list(TemplateVersion), ...keyedErrors(400, 404) },
        },
      },
      async (request) => {
        const versions = await listTemplateVersions(ctx.prisma, principalOf(request).orgId, request.params.template_id);
        return { data: versions.map(templateVersionView) };
      },
    );
  };
