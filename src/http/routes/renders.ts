// The contract's render routes: POST /api/v1/create and /api/v1/studio/create-and-render (202, or
// 200 inline with ?sync=true), POST /api/v1/design-groups/create (always 202), and the poll
// endpoint GET /api/v1/create/:job_id.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { createGroupRender, createRender, createStudioRender, type Accepted } from "../../jobs/accept.js";
import { getJob, viewOf } from "../../jobs/service.js";
import type { JobStatus } from "../../jobs/view.js";
import { waitForFinal } from "../../jobs/watch.js";
import { principalOf } from "../auth.js";
import { idempotencyKeyOf } from "../idempotency-key.js";
import { Accepted as AcceptedBody, Job, JSON_BODY_ERRORS, keyedErrors } from "../responses.js";
import { CreateRenderInput, GroupRenderInput, StudioRenderInput } from "../../views/requests.js";

// A render is refused before anything is created: bad input, an unknown template (404), no money
// (402), a reused Idempotency-Key (422).
const RENDER_ERRORS = keyedErrors(...JSON_BODY_ERRORS, 402, 404, 422);
const SYNC_RESPONSES = {
  200: Job.meta({ description: "?sync=true: the finished job (complete or failed)" }),
  202: AcceptedBody,
  ...RENDER_ERRORS,
};

const SyncQuery = z.object({
  sync: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => v === "true" || v === "1"),
});

export const rendersRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    /**
     * The contract's 202 body; a replay answers exactly as the first request did. `status` is
     * "pending" when just accepted, or what a sync wait last saw of the job ("processing").
     */
    const sendAccepted = (
      reply: FastifyReply,
      accepted: Accepted,
      extra: Record<string, unknown> = {},
      status: JobStatus = "pending",
    ) => {
      if (accepted.replayed) void reply.header("idempotent-replayed", "true");
      return reply
        .status(202)
        .send({ job_id: accepted.job.id, status, poll_url: `/api/v1/create/${accepted.job.id}`, ...extra });
    };

    /**
     * ?sync=true: wait on the event bus up to SYNC_TIMEOUT_MS and answer 200 with the poll body
     * (complete or failed); past it, or if the client leaves, the usual 202 — the job goes on.
     */
    const answer = async (
      request: FastifyRequest,
      reply: FastifyReply,
      accepted: Accepted,
      sync: boolean,
      extra: Record<string, unknown> = {},
    ) => {
      if (sync) {
        const gone = new AbortController();
        request.raw.once("close", () => gone.abort());
        reply.raw.once("close", () => gone.abort());
        const waited = await waitForFinal(
          ctx,
          accepted.job.orgId,
          accepted.job.id,
          ctx.config.SYNC_TIMEOUT_MS,
          gone.signal,
        );
        if (waited.settled) {
          if (accepted.replayed) void reply.header("idempotent-replayed", "true");
          return reply.status(200).send({ ...waited.view, ...extra });
        }
        // Out of time: the job's status as last seen, which is never behind the database's by more
        // than an event in flight (watchJob reads the job after subscribing). A complete job still
        // delivering its send_to is not settled: its 202 says "complete", as its poll does.
        return sendAccepted(reply, accepted, extra, waited.view?.status ?? "pending");
      }
      return sendAccepted(reply, accepted, extra);
    };

    app.post(
      "/create",
      {
        schema: {
          operationId: "createRender",
          summary: "Render a template",
          description:
            "Accepts the job and answers 202 at once; with ?sync=true waits up to SYNC_TIMEOUT_MS and answers 200 with the finished job, or 202 past it.",
          tags: ["Renders"],
          body: CreateRenderInput,
          querystring: SyncQuery,
          response: SYNC_RESPONSES,
        },
      },
      async (request, reply) => {
        const accepted = await createRender(ctx, principalOf(request).orgId, request.body, {
          idempotencyKey: idempotencyKeyOf(request),
          requestId: request.id,
        });
        return answer(request, reply, accepted, request.query.sync);
      },
    );

    app.post(
      "/studio/create-and-render",
      {
        schema: {
          operationId: "createStudioRender",
          summary: "Save a design as a template and render it",
          description:
            "One transaction: a 402 creates neither the template nor the job. The answer names the saved template_id; ?sync=true as on POST /api/v1/create.",
          tags: ["Renders"],
          body: StudioRenderInput,
          querystring: SyncQuery,
          response: SYNC_RESPONSES,
        },
      },
      async (request, reply) => {
        const accepted = await createStudioRender(ctx, principalOf(request).orgId, request.body, {
          idempotencyKey: idempotencyKeyOf(request),
          requestId: request.id,
        });
        return answer(
          request,
          reply,
          accepted,
          request.query.sync,
          accepted.templateId ? { template_id: accepted.templateId } : {},
        );
      },
    );

    // Groups never wait: `sync` is accepted and ignored, as documented.
    app.post(
      "/design-groups/create",
      {
        schema: {
          operationId: "createGroupRender",
          summary: "Render a design group",
          description:
            "Renders every template of a saved group (design_group_id) or of a list (template_ids) with one set of modifications; always 202, charged for all items at once.",
          tags: ["Renders"],
          body: GroupRenderInput,
          response: { 202: AcceptedBody, ...RENDER_ERRORS },
        },
      },
      async (request, reply) => {
        const accepted = await createGroupRender(ctx, principalOf(request).orgId, request.body, {
          idempotencyKey: idempotencyKeyOf(request),
          requestId: request.id,
        });
        return sendAccepted(reply, accepted);
      },
    );

    app.get(
      "/create/:job_id",
      {
        schema: {
          operationId: "getRender",
          summary: "Poll a render job",
          tags: ["Renders"],
          params: z.object({ job_id: z.string().max(100) }),
          response: { 200: Job, ...keyedErrors(400, 404) },
        },
      },
      async (request) => {
        const job = await getJob(ctx, principalOf(request).orgId, request.params.job_id);
        return viewOf(ctx, job);
      },
    );
  };
