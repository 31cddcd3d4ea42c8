// Delivery routes: webhook attempts and redelivery of a job, the organisation's webhook secret,
// Send-To presets, and the Studio export routes (render, then send to one destination).
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../../context.js";
import { DirectSendTo, SEND_TO_TYPES, SendTo } from "../../delivery/destinations/index.js";
import { exportDesign, ExportRequest } from "../../delivery/export.js";
import { createPreset, deletePreset, getPreset, listPresets, updatePreset } from "../../delivery/presets.js";
import { listWebhookAttempts, redeliverWebhook } from "../../delivery/webhook-events.js";
import { rotateWebhookSecret, webhookSecretView } from "../../delivery/webhook-secrets.js";
import { principalOf } from "../auth.js";
import { idempotencyKeyOf } from "../idempotency-key.js";

const JobParams = z.object({ job_id: z.string().max(100) });
const PresetParams = z.object({ preset_id: z.string().max(100) });
const PresetInput = z.object({ name: z.string().min(1).max(200), destination: DirectSendTo });

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
    app.get("/create/:job_id/deliveries", { schema: { params: JobParams } }, async (request) => ({
      data: await listWebhookAttempts(ctx.prisma, principalOf(request).orgId, request.params.job_id),
    }));

    app.post("/create/:job_id/redeliver", { schema: { params: JobParams } }, async (request, reply) => {
      await redeliverWebhook(ctx, principalOf(request).orgId, request.params.job_id);
      return reply.status(202).send({ ok: true, job_id: request.params.job_id });
    });

    app.get("/webhooks/secret", async (request) => webhookSecretView(ctx, principalOf(request).orgId));
    app.post("/webhooks/secret/rotate", async (request) => rotateWebhookSecret(ctx, principalOf(request).orgId));

    app.post("/send-to-presets", { schema: { body: PresetInput } }, async (request, reply) =>
      reply.status(201).send(await createPreset(ctx, principalOf(request).orgId, request.body)),
    );
    app.get("/send-to-presets", async (request) => ({ data: await listPresets(ctx, principalOf(request).orgId) }));
    app.get("/send-to-presets/:preset_id", { schema: { params: PresetParams } }, async (request) =>
      getPreset(ctx, principalOf(request).orgId, request.params.preset_id),
    );
    app.put("/send-to-presets/:preset_id", { schema: { params: PresetParams, body: PresetInput } }, async (request) =>
      updatePreset(ctx, principalOf(request).orgId, request.params.preset_id, request.body),
    );
    app.delete("/send-to-presets/:preset_id", { schema: { params: PresetParams } }, async (request, reply) => {
      await deletePreset(ctx.prisma, principalOf(request).orgId, request.params.preset_id);
      return reply.status(204).send();
    });

    // Studio export: render, then send to the route's destination (src/delivery/export.ts).
    for (const [name, Body] of EXPORT_BODIES) {
      app.post(
        `/studio/export/${name}`,
        { schema: { body: Body } },
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
