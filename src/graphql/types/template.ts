// Templates: the same view and domain calls as /api/v1/templates. The document travels as JSON
// and is validated by the domain's schema, errors pathed under `document`.
import { NotFoundError, ValidationError } from "../../errors.js";
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  templateView,
  updateTemplate,
  type TemplateView,
} from "../../templates/service.js";
import { builder, principalOf } from "../builder.js";
import { pageArgs, toConnection } from "../connections.js";
import { parseInput } from "../inputs.js";
import { TemplateInput } from "../../views/requests.js";

const TemplateRef = builder.objectRef<TemplateView>("Template").implement({
  description: "A saved template. Mirrors GET /api/v1/templates/:id.",
  fields: (t) => ({
    id: t.exposeID("template_id"),
    name: t.exposeString("name"),
    version: t.exposeInt("version"),
    width: t.exposeInt("width"),
    height: t.exposeInt("height"),
    document: t.field({
      type: "JSON",
      description: "The template document: width, height, background, layers (snake_case, as in REST)",
      resolve: (tpl) => ({ width: tpl.width, height: tpl.height, background: tpl.background, layers: tpl.layers }),
    }),
    createdAt: t.field({ type: "DateTime", resolve: (tpl) => tpl.created_at }),
    updatedAt: t.field({ type: "DateTime", resolve: (tpl) => tpl.updated_at }),
  }),
});

builder.queryFields((t) => ({
  template: t.field({
    type: TemplateRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      try {
        return templateView(await getTemplate(ctx.app.prisma, principalOf(ctx).orgId, String(args.id)));
      } catch (e) {
        if (e instanceof NotFoundError) return null;
        throw e;
      }
    },
  }),
  templates: t.connection({
    type: TemplateRef,
    description: "Your organisation's templates, newest first.",
    resolve: async (_root, args, ctx) =>
      toConnection(await listTemplates(ctx.app.prisma, principalOf(ctx).orgId, pageArgs(args)), templateView, args),
  }),
}));

/** `document` JSON + optional name -> the domain's validated input. */
const toTemplateInput = (document: unknown, name: string | null | undefined): TemplateInput =>
  parseInput(
    TemplateInput,
    { ...(document && typeof document === "object" ? document : {}), ...(name ? { name } : {}) },
    "document",
  );

const DeletedTemplate = builder.objectRef<{ id: string }>("DeletedTemplate").implement({
  fields: (t) => ({ id: t.exposeID("id") }),
});

builder.mutationFields((t) => ({
  createTemplate: t.field({
    type: TemplateRef,
    errors: { types: [ValidationError], directResult: true, union: { name: "CreateTemplateResult" } },
    args: { name: t.arg.string({ required: false }), document: t.arg({ type: "JSON", required: true }) },
    resolve: async (_root, args, ctx) =>
      templateView(
        await createTemplate(ctx.app.prisma, principalOf(ctx).orgId, toTemplateInput(args.document, args.name)),
      ),
  }),
  updateTemplate: t.field({
    type: TemplateRef,
    description: "Replaces the document (a new version).",
    errors: { types: [ValidationError, NotFoundError], directResult: true, union: { name: "UpdateTemplateResult" } },
    args: {
      id: t.arg.id({ required: true }),
      name: t.arg.string({ required: false }),
      document: t.arg({ type: "JSON", required: true }),
    },
    resolve: async (_root, args, ctx) =>
      templateView(
        await updateTemplate(
          ctx.app.prisma,
          principalOf(ctx).orgId,
          String(args.id),
          toTemplateInput(args.document, args.name),
        ),
      ),
  }),
  deleteTemplate: t.field({
    type: DeletedTemplate,
    description: "Hides the template from new jobs; existing jobs and outputs keep working.",
    errors: { types: [NotFoundError], directResult: true, union: { name: "DeleteTemplateResult" } },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      await deleteTemplate(ctx.app.prisma, principalOf(ctx).orgId, String(args.id));
      return { id: String(args.id) };
    },
  }),
}));
