// GraphQL at /graphql on the same server and port as REST: graphql-yoga over Fastify for HTTP
// (queries, mutations, Server-Sent Events subscriptions, GraphiQL in a browser) and graphql-ws
// over WebSocket on the same path. Authentication is the REST API key: the Authorization header
// over HTTP and SSE, `connectionParams.authorization` over WebSocket, checked once when the
// connection opens. A bad key is refused before anything executes.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { NoSchemaIntrospectionCustomRule, type DocumentNode, type ExecutionArgs, type GraphQLError, type GraphQLSchema } from "graphql";
import type { OperationResult } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type Plugin } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { authenticateApiKey, type Principal } from "../auth/api-keys.js";
import type { AppContext } from "../context.js";
import type { GraphQLContext } from "../graphql/builder.js";
import { schema } from "../graphql/schema.js";

const ENDPOINT = "/graphql";

interface ServerContext {
  req: FastifyRequest | IncomingMessage;
  reply?: FastifyReply;
  /** Authenticated before yoga runs: undefined = anonymous. */
  principal?: Principal | undefined;
}

const bearer = (value: unknown) => (typeof value === "string" ? (/^(?:Bearer\s+)?(\S+)\s*$/i.exec(value)?.[1] ?? null) : null);

const disableIntrospection = (): Plugin => ({
  onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule),
});

export const graphqlPlugin =
  (app: AppContext): FastifyPluginAsync =>
  async (fastify) => {
  const { config } = app;
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: ENDPOINT,
    // Unexpected errors reach clients as "Unexpected error."; the details go to the log only.
    maskedErrors: true,
    logging: {
      debug: (...args) => app.logger.debug({ args }, "graphql"),
      info: (...args) => app.logger.info({ args }, "graphql"),
      warn: (...args) => app.logger.warn({ args }, "graphql"),
      error: (...args) => app.logger.error({ args }, "graphql"),
    },
    graphiql: { title: "Templified GraphQL", subscriptionsProtocol: "SSE" },
    context: ({ principal }): GraphQLContext => ({ app, principal: principal ?? null }),
    plugins: [
      maxDepthPlugin({ n: config.GRAPHQL_MAX_DEPTH, ignoreIntrospection: true }),
      costLimitPlugin({ maxCost: config.GRAPHQL_MAX_COST }),
      maxAliasesPlugin({ n: 15 }),
      ...(config.GRAPHQL_INTROSPECTION ? [] : [disableIntrospection(), blockFieldSuggestionsPlugin()]),
    ],
  });

  fastify.route({
    url: ENDPOINT,
    method: ["GET", "POST", "OPTIONS"],
    handler: async (req, reply) => {
      const key = bearer(req.headers.authorization);
      const principal = key ? await authenticateApiKey(app.prisma, key) : null;
      if (key && !principal) {
        return reply.status(401).send({ errors: [{ message: "Invalid API key", extensions: { code: "UNAUTHENTICATED" } }] });
      }
      return yoga.handleNodeRequestAndResponse(req, reply, { req, reply, principal: principal ?? undefined });
    },
  });

  // graphql-ws on the same path: the upgrade is taken from Fastify's HTTP server.
  const wss = new WebSocketServer({ noServer: true });
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== ENDPOINT) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };
  fastify.server.on("upgrade", upgrade);

  type Extra = { principal?: Principal };
  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      // Checked once per connection; returning false closes it with 4403 Forbidden.
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const key = bearer(params.authorization ?? params.Authorization);
        const principal = key ? await authenticateApiKey(app.prisma, key) : null;
        if (!principal) return false;
        ctx.extra.principal = principal;
        return true;
      },
      execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        const { schema: enveloped, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          principal: ctx.extra.principal,
          params: payload,
        }) as unknown as EnvelopedFns;
        const args = {
          schema: enveloped,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors : args;
      },
    },
    wss,
  );

  fastify.addHook("onClose", async () => {
    fastify.server.off("upgrade", upgrade);
    for (const client of wss.clients) client.close(1001, "server shutting down");
    await disposable.dispose();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
};

type EnvelopedFns = Enveloped & {
  schema: GraphQLSchema;
  parse: (source: string) => DocumentNode;
  validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
  contextFactory: () => Promise<GraphQLContext>;
};
type Enveloped = { execute: (args: ExecutionArgs) => OperationResult; subscribe: (args: ExecutionArgs) => OperationResult };
