// Templates: create and read. (Listing, versions and deletion come with the template engine.)
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { NotFoundError } from "../../jobs/errors.js";
import { createTemplate, findTemplate, TemplateInput, templateView } from "../../templates/service.js";
import { principalOf } from "../auth.js";

export const templatesRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post("/templates", { schema: { body: TemplateInput } }, async (request, reply) => {
      const template = await createTemplate(ctx.prisma, principalOf(request).orgId, request.body);
      return reply.status(201).send(templateView(template));
    });

    app.get("/templates/:template_id", { schema: { params: z.object({ template_id: z.string().max(100) }) } }, async (request) => {
      const template = await findTemplate(ctx.prisma, principalOf(request).orgId, request.params.template_id);
      if (!template) throw new NotFoundError("template not found");
      return templateView(template);
    });
  };
