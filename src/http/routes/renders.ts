// The contract's render routes: POST /api/v1/create (202) and GET /api/v1/create/:job_id.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { createRender, CreateRenderInput, getJob, viewOf, type Accepted } from "../../jobs/service.js";
import { principalOf } from "../auth.js";
import { HttpError } from "../errors.js";

/** The Idempotency-Key header, validated (Stripe allows up to 255 characters). */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers["idempotency-key"];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || value.length === 0 || value.length > 255 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new HttpError(400, "Invalid Idempotency-Key header: 1 to 255 printable ASCII characters without spaces");
  }
  return value;
}

/** The contract's 202 body; a replay answers exactly as the first request did. */
export function sendAccepted(reply: FastifyReply, accepted: Accepted) {
  if (accepted.replayed) void reply.header("idempotent-replayed", "true");
  return reply.status(202).send({ job_id: accepted.job.id, status: "pending", poll_url: `/api/v1/create/${accepted.job.id}` });
}

export const rendersRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post("/create", { schema: { body: CreateRenderInput } }, async (request, reply) => {
      const accepted = await createRender(ctx, principalOf(request).orgId, request.body, { idempotencyKey: idempotencyKeyOf(request) });
      return sendAccepted(reply, accepted);
    });

    app.get("/create/:job_id", { schema: { params: z.object({ job_id: z.string().max(100) }) } }, async (request) => {
      const job = await getJob(ctx, principalOf(request).orgId, request.params.job_id);
      return viewOf(ctx, job);
    });
  };
