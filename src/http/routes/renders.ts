// The contract's render routes: POST /api/v1/create (202) and GET /api/v1/create/:job_id.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { createRender, CreateRenderInput, getJob, viewOf } from "../../jobs/service.js";
import { principalOf } from "../auth.js";

export const rendersRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post("/create", { schema: { body: CreateRenderInput } }, async (request, reply) => {
      const job = await createRender(ctx, principalOf(request).orgId, request.body);
      return reply.status(202).send({ job_id: job.id, status: job.status, poll_url: `/api/v1/create/${job.id}` });
    });

    app.get("/create/:job_id", { schema: { params: z.object({ job_id: z.string().max(100) }) } }, async (request) => {
      const job = await getJob(ctx, principalOf(request).orgId, request.params.job_id);
      return viewOf(ctx, job);
    });
  };
