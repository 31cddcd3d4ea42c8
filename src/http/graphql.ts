// GraphQL at /graphql on the same server and port as REST: graphql-yoga over Fastify (HTTP
// POST/GET and GraphiQL in the browser). The API key is read the same way as REST's.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { createYoga } from "graphql-yoga";
import { authenticateApiKey } from "../auth/api-keys.js";
import type { AppContext } from "../context.js";
import type { GraphQLContext } from "../graphql/builder.js";
import { schema } from "../graphql/schema.js";

export const graphqlRoutes =
  (app: AppContext): FastifyPluginAsync =>
  async (fastify) => {
    const yoga = createYoga<{ req: FastifyRequest; reply: FastifyReply }, GraphQLContext>({
      schema,
      graphqlEndpoint: "/graphql",
      logging: false,
      context: async ({ req }): Promise<GraphQLContext> => {
        const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
        return { app, principal: match ? await authenticateApiKey(app.prisma, match[1]!) : null };
      },
    });

    fastify.route({
      url: yoga.graphqlEndpoint,
      method: ["GET", "POST", "OPTIONS"],
      handler: (req, reply) => yoga.handleNodeRequestAndResponse(req, reply, { req, reply }),
    });
  };
