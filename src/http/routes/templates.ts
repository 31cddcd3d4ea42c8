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
  TemplateInput,
  templateVersionView,
  templateView,
  updateTemplate,
} from "../../templates/service.js";
import { principalOf } from "../auth.js";

const Params = z.object({ template_id: z.string().max(100) });

export const templatesRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post("/templates", { schema: { body: TemplateInput } }, async (request, reply) => {
      const template = await createTemplate(ctx.prisma, principalOf(request).orgId, request.body);
      return reply.status(201).send(templateView(template));
    });

    app.get("/templates", { schema: { querystring: PageQuery } }, async (request) => {
      const page = await listTemplates(ctx.prisma, principalOf(request).orgId, request.query);
      return { data: page.data.map(templateView), next_cursor: page.next_cursor };
    });

    app.get("/templates/:template_id", { schema: { params: Params } }, async (request) =>
      templateView(await getTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id)),
    );

    app.put("/templates/:template_id", { schema: { params: Params, body: TemplateInput } }, async (request) =>
      templateView(
        await updateTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id, request.body),
      ),
    );

    app.delete("/templates/:template_id", { schema: { params: Params } }, async (request, reply) => {
      await deleteTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id);
      return reply.status(204).send();
    });

    app.get("/templates/:template_id/versions", { schema: { params: Params } }, async (request) => {
      const versions = await listTemplateVersions(ctx.prisma, principalOf(request).orgId, request.params.template_id);
      return { data: versions.map(templateVersionView) };
    });
  };
