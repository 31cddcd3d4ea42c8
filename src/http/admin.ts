// The queue dashboard (Bull Board) at /admin/queues, for operators, behind HTTP Basic auth with
// ADMIN_PASSWORD (user "admin"). Without ADMIN_PASSWORD it is not mounted at all.
import { timingSafeEqual } from "node:crypto";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";

const BASE = "/admin/queues";

function authorized(request: FastifyRequest, password: string): boolean {
  const header = request.headers.authorization ?? "";
  if (!header.startsWith("Basic ")) return false;
  const given = Buffer.from(Buffer.from(header.slice(6), "base64").toString("utf8"));
  const expected = Buffer.from(`admin:${password}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const adminPlugin =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    const password = ctx.config.ADMIN_PASSWORD;
    if (!password) return;
    app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.url.startsWith(BASE)) return;
      if (!authorized(request, password)) {
        return reply.header("www-authenticate", 'Basic realm="Templified operators"').status(401).send({ error: "Operator credentials required" });
      }
    });
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(BASE);
    createBullBoard({ queues: [new BullMQAdapter(ctx.renderQueue.queue), new BullMQAdapter(ctx.deliverQueue.queue)], serverAdapter });
    await app.register(serverAdapter.registerPlugin(), { prefix: BASE });
  };
