// Design groups CRUD: /api/v1/design-groups. Rendering a group is POST /api/v1/design-groups/create
// (routes/renders.ts).
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { PageQuery } from "../../db/pagination.js";
import {
  createDesignGroup,
  deleteDesignGroup,
  designGroupView,
  getDesignGroup,
  listDesignGroups,
  updateDesignGroup,
} from "../../templates/design-groups.js";
import { principalOf } from "../auth.js";
import { DesignGroup, JSON_BODY_ERRORS, keyedErrors, NoContent, page } from "../responses.js";
import { DesignGroupInput } from "../../views/requests.js";

const tags = ["Design groups"];

const Params = z.object({ design_group_id: z.string().max(100) });

export const designGroupsRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      "/design-groups",
      {
        schema: {
          operationId: "createDesignGroup",
          summary: "Create a design group",
          tags,
          body: DesignGroupInput,
          response: { 201: DesignGroup, ...keyedErrors(...JSON_BODY_ERRORS) },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(designGroupView(await createDesignGroup(ctx.prisma, principalOf(request).orgId, request.body))),
    );

    app.get(
      "/design-groups",
      {
        schema: {
          operationId: "listDesignGroups",
          summary: "List design groups, newest first",
          tags,
          querystring: PageQuery,
          response: { 200: page(DesignGroup), ...keyedErrors(400) },
        },
      },
      async (request) => {
        const page = await listDesignGroups(ctx.prisma, principalOf(request).orgId, request.query);
        return { data: page.data.map(designGroupView), next_cursor: page.next_cursor };
      },
    );

    app.get(
      "/design-groups/:design_group_id",
      {
        schema: {
          operationId: "getDesignGroup",
          summary: "Get a design group",
          tags,
          params: Params,
          response: { 200: DesignGroup, ...keyedErrors(400, 404) },
        },
      },
      async (request) =>
        designGroupView(await getDesignGroup(ctx.prisma, principalOf(request).orgId, request.params.design_group_id)),
    );

    app.put(
      "/design-groups/:design_group_id",
      {
        schema: {
          operationId: "updateDesignGroup",
          summary: "Replace a design group",
          tags,
          params: Params,
          body: DesignGroupInput,
          response: { 200: DesignGroup, ...keyedErrors(...JSON_BODY_ERRORS, 404) },
        },
      },
      async (request) =>
        designGroupView(
          await updateDesignGroup(ctx.prisma, principalOf(request).orgId, request.params.design_group_id, request.body),
        ),
    );

    app.delete(
      "/design-groups/:design_group_id",
      {
        schema: {
          operationId: "deleteDesignGroup",
          summary: "Delete a design group",
          tags,
          params: Params,
          response: { 204: NoContent, ...keyedErrors(400, 404) },
        },
      },
      async (request, reply) => {
        await deleteDesignGroup(ctx.prisma, principalOf(request).orgId, request.params.design_group_id);
        return reply.status(204).send(null);
      },
    );
  };
