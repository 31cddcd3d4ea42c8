// Delivery routes: webhook attempts and redelivery of a job, the organisation's webhook secret,
// Send-To presets, and the Studio export routes (render, then send to one destination).
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { SEND_TO_TYPES, SendTo } from "../../views/send-to.js";
import { exportDesign } from "../../delivery/export.js";
import { createPreset, deletePreset, getPreset, listPresets, updatePreset } from "../../delivery/presets.js";
import { listWebhookAttempts, redeliverWebhook } from "../../delivery/webhook-events.js";
import { rotateWebhookSecret, webhookSecretView } from "../../delivery/webhook-secrets.js";
import { principalOf } from "../auth.js";
import { idempotencyKeyOf } from "../idempotency-key.js";
import {
  ExportDone,
  ExportQueued,
  JSON_BODY_ERRORS,
  keyedErrors,
  list,
  NoContent,
  Preset,
  Redelivered,
  WebhookAttempt,
  WebhookSecret,
} from "../responses.js";
import { ExportRequest, PresetInput } from "../../views/requests.js";

const JobParams = z.object({ job_id: z.string().max(100) });
const PresetParams = z.object({ preset_id: z.string().max(100) });
type ExportBody = ExportRequest & Record<string, unknown>;

// One route per send_to type; its body: what to render, plus that destination's fields (its
// `type` is the route).
const EXPORT_BODIES = Object.entries(SEND_TO_TYPES).map(([name, destination]) => {
  const { type: _type, ...fields }: z.ZodRawShape = destination.shape;
  return [name, ExportRequest.extend(fields)] as const;
});

export const deliveryRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      "/create/:job_id/deliveries",
      {
        schema: {
          operationId: "listDeliveries",
          summary: "A job's webhook delivery attempts",
          tags: ["Webhooks"],
          params: JobParams,
          response: { 200: list(WebhookAttempt), ...keyedErrors(400, 404) },
        },
      },
      async (request) => ({
        data: await listWebhookAttempts(ctx.prisma, principalOf(request).orgId, request.params.job_id),
      }),
    );

    app.post(
      "/create/:job_id/redeliver",
      {
        schema: {
          operationId: "redeliverWebhook",
          summary: "Send a final job's webhook event again",
          description: "400 when the job has no webhook_url or is not final yet; 429 past REDELIVER_MAX_PER_HOUR.",
          tags: ["Webhooks"],
          params: JobParams,
          response: { 202: Redelivered, ...keyedErrors(400, 404) },
        },
      },
      async (request, reply) => {
        await redeliverWebhook(ctx, principalOf(request).orgId, request.params.job_id);
        return reply.status(202).send({ ok: true, job_id: request.params.job_id });
      },
    );

    app.get(
      "/webhooks/secret",
      {
        schema: {
          operationId: "getWebhookSecret",
          summary: "The organisation's webhook signing secret",
          tags: ["Webhooks"],
          response: { 200: WebhookSecret, ...keyedErrors() },
        },
      },
      async (request) => webhookSecretView(ctx, principalOf(request).orgId),
    );
    app.post(
      "/webhooks/secret/rotate",
      {
        schema: {
          operationId: "rotateWebhookSecret",
          summary: "A new signing secret; the old one keeps signing for 24 hours",
          tags: ["Webhooks"],
          response: { 200: WebhookSecret, ...keyedErrors() },
        },
      },
      async (request) => rotateWebhookSecret(ctx, principalOf(request).orgId),
    );

    app.post(
      "/send-to-presets",
      {
        schema: {
          operationId: "createSendToPreset",
          summary: "Save a Send-To destination",
          tags: ["Send-To presets"],
          body: PresetInput,
          response: { 201: Preset, ...keyedErrors(...JSON_BODY_ERRORS) },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await createPreset(ctx, principalOf(request).orgId, request.body)),
    );
    app.get(
      "/send-to-presets",
      {
        schema: {
          operationId: "listSendToPresets",
          summary: "List the saved Send-To destinations",
          tags: ["Send-To presets"],
          response: { 200: list(Preset), ...keyedErrors() },
        },
      },
      async (request) => ({ data: await listPresets(ctx, principalOf(request).orgId) }),
    );
    app.get(
      "/send-to-presets/:preset_id",
      {
        schema: {
          operationId: "getSendToPreset",
          summary: "Get a saved Send-To destination",
          tags: ["Send-To presets"],
          params: PresetParams,
          response: { 200: Preset, ...keyedErrors(400, 404) },
        },
      },
      async (request) => getPreset(ctx, principalOf(request).orgId, request.params.preset_id),
    );
    app.put(
      "/send-to-presets/:preset_id",
      {
        schema: {
          operationId: "updateSendToPreset",
          summary: "Replace a saved Send-To destination",
          tags: ["Send-To presets"],
          params: PresetParams,
          body: PresetInput,
          response: { 200: Preset, ...keyedErrors(...JSON_BODY_ERRORS, 404) },
        },
      },
      async (request) => updatePreset(ctx, principalOf(request).orgId, request.params.preset_id, request.body),
    );
    app.delete(
      "/send-to-presets/:preset_id",
      {
        schema: {
          operationId: "deleteSendToPreset",
          summary: "Delete a saved Send-To destination",
          tags: ["Send-To presets"],
          params: PresetParams,
          response: { 204: NoContent, ...keyedErrors(400, 404) },
        },
      },
      async (request, reply) => {
        await deletePreset(ctx.prisma, principalOf(request).orgId, request.params.preset_id);
        return reply.status(204).send(null);
      },
    );

    // Studio export: render, then send to the route's destination (src/delivery/export.ts).
    for (const [name, Body] of EXPORT_BODIES) {
      app.post(
        `/studio/export/${name}`,
        {
          schema: {
            operationId: `studioExport${name[0]!.toUpperCase()}${name.slice(1)}`,
            summary: `Render and send to ${name}`,
            description:
              'Answers 200 when the render and the send finished within the wait ({"ok","async":false,"job_id","outputUrl",...the destination\'s identifiers}), 202 {"ok":true,"async":true,"job_id"} when queued (async:true, or past the wait).',
            tags: ["Studio export"],
            body: Body,
            response: {
              200: ExportDone.meta({ description: "Rendered and sent (ok false with error when either failed)" }),
              202: ExportQueued.meta({
                description: "Queued: poll the job or await its webhook",
                examples: [{ ok: true, async: true, job_id: "clx8k2m4n6p8q0r2s4t6v8w0" }],
              }),
              ...keyedErrors(...JSON_BODY_ERRORS, 402, 404, 422),
            },
          },
        },
        async (request: FastifyRequest<{ Body: ExportBody }>, reply: FastifyReply) => {
          const { template_id, design, modifications, format, quality, scale, webhook_url, async, ...fields } =
            request.body;
          const gone = new AbortController();
          request.raw.once("close", () => gone.abort());
          const result = await exportDesign(
            ctx,
            principalOf(request).orgId,
            { template_id, design, modifications, format, quality, scale, webhook_url, async },
            SendTo.parse({ type: name, ...fields }),
            {
              idempotencyKey: idempotencyKeyOf(request),
              requestId: request.id,
              waitMs: ctx.config.SYNC_TIMEOUT_MS,
              signal: gone.signal,
            },
          );
          return reply.status(result.async ? 202 : 200).send(result);
        },
      );
    }
  };
