// The queue dashboard (Bull Board) at /admin/queues, for operators, behind HTTP Basic auth with
// ADMIN_PASSWORD (user "admin"). Without ADMIN_PASSWORD it is not mounted at all.
//
// The guard is not a test on the URL's text: the router decodes and matches paths its own way
// (`/admin/%71ueues` is `/admin/queues` to it), so a string prefix check can be walked around.
// Instead the dashboard's routes all live in one encapsulated Fastify scope, and the check is an
// onRequest hook of that scope: it runs for every request the router hands to any route there,
// whatever spelling of the path got it there. A request the router does not match in the scope
// reaches no dashboard code (it is the server's 404).
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";

export const ADMIN_BASE = "/admin/queues";

const digest = (value: string | Buffer) => createHash("sha256").update(value).digest();

/** `Authorization: Basic base64(admin:<password>)`, compared in constant time (digests: no length leak). */
function authorized(request: FastifyRequest, expected: Buffer): boolean {
  const match = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(request.headers.authorization ?? "");
  if (!match) return false;
  return timingSafeEqual(digest(Buffer.from(match[1]!, "base64")), expected);
}

type AdminContext = Pick<AppContext, "renderQueue" | "deliverQueue"> & {
  config: Pick<AppContext["config"], "ADMIN_PASSWORD">;
};

export const adminPlugin =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    const password = ctx.config.ADMIN_PASSWORD;
    if (!password) return;
    const expected = digest(`admin:${password}`);
    // A scope of its own (registered without fastify-plugin, so encapsulated): the hook below covers
    // exactly the routes registered in it, and nothing outside it.
    await app.register(async (scope: FastifyInstance) => {
      scope.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
        if (!authorized(request, expected)) {
          return reply
            .header("www-authenticate", 'Basic realm="Templified operators", charset="UTF-8"')
            .status(401)
            .send({ error: "Operator credentials required" });
        }
      });
      // Loaded only when the dashboard is mounted: a process without ADMIN_PASSWORD never holds it.
      const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
        import("@bull-board/api"),
        import("@bull-board/api/bullMQAdapter"),
        import("@bull-board/fastify"),
      ]);
      const serverAdapter = new FastifyAdapter();
      serverAdapter.setBasePath(ADMIN_BASE);
      createBullBoard({
        queues: [new BullMQAdapter(ctx.renderQueue.queue), new BullMQAdapter(ctx.deliverQueue.queue)],
        serverAdapter,
      });
      await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_BASE });
    });
  };
