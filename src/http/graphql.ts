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
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
} from "graphql";
import type { OperationResult } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type Plugin } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { authenticateApiKey, type Principal } from "../auth/api-keys.js";
import { parseApiKey } from "../auth/bearer.js";
import { RateLimitedError } from "../auth/rate-limiter.js";
import type { AppContext } from "../context.js";
import { errorAnswerOf } from "../error-answers.js";
import type { GraphQLContext } from "../graphql/builder.js";
import { graphqlErrorOf } from "../graphql/error-codes.js";
import { isUnstorableText, toErrorResponse } from "./errors.js";
import { admitRequest, bucketOf } from "./auth.js";
import { LiveConnections } from "./live-connections.js";
import { setRateLimitHeaders } from "./rate-limit.js";
import { schema } from "../graphql/schema.js";

const ENDPOINT = "/graphql";

interface ServerContext {
  req: FastifyRequest | IncomingMessage;
  reply?: FastifyReply;
  /** Authenticated before yoga runs: undefined = anonymous. */
  principal?: Principal | undefined;
}

// graphql-js parses recursively: a document nested a few thousand levels deep overflows the stack
// before any depth rule runs. Refuse such text before parsing (the depth limit proper is
// GRAPHQL_MAX_DEPTH, checked on the parsed document).
const MAX_NESTING = 200;
function tooDeeplyNested(source: unknown): boolean {
  if (typeof source !== "string") return false;
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 123 || c === 91 || c === 40) {
      if (++depth > MAX_NESTING) return true;
    } else if (c === 125 || c === 93 || c === 41) depth--;
  }
  return false;
}

/** Problems yoga would turn into a 500: answered 400 with a GraphQL error body instead. */
function preflight(req: FastifyRequest): string | null {
  const body = req.body as { query?: unknown } | undefined;
  const query = req.query as Record<string, unknown>;
  // A repeated parameter arrives as an array here while yoga reads its first value: the checks
  // below would look at one thing and yoga run another. One value each, or nothing runs.
  for (const param of ["query", "variables", "extensions", "operationName"]) {
    if (Array.isArray(query[param])) return `The ${param} query parameter is repeated: send it once`;
  }
  if (tooDeeplyNested(body?.query) || tooDeeplyNested(query.query))
    return `The document is nested more than ${MAX_NESTING} levels deep`;
  for (const param of ["variables", "extensions"]) {
    const value = query[param];
    if (typeof value !== "string") continue;
    try {
      JSON.parse(value);
    } catch {
      return `The ${param} query parameter is not valid JSON`;
    }
  }
  return null;
}

// graphql-ws close codes of ours (4400-4499 are the application's).
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TOO_MANY = 4429;

const rateLimitError = (err: RateLimitedError) => graphqlErrorOf(err)!;
const limitError = (message: string) => new GraphQLError(message, { extensions: { code: "RATE_LIMITED" } });

/** A refusal before yoga runs, in GraphQL's error shape with the REST status and headers. */
function sendGraphQLError(reply: FastifyReply, err: unknown) {
  const { status, body } = toErrorResponse(err);
  if (err instanceof RateLimitedError) {
    setRateLimitHeaders(reply, err.decision);
    return reply.status(429).send({ errors: [rateLimitError(err).toJSON()] });
  }
  const code =
    errorAnswerOf(err)?.graphqlCode ??
    (status === 401 ? "UNAUTHENTICATED" : status >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST");
  return reply.status(status).send({ errors: [{ message: body.error, extensions: { code } }] });
}

const disableIntrospection = (): Plugin => ({
  onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule),
});

export const graphqlPlugin =
  (app: AppContext): FastifyPluginAsync =>
  async (fastify) => {
    const { config } = app;
    const live = new LiveConnections(app.prisma, app.logger.child({ component: "graphql" }));
    live.start(config.KEY_RECHECK_MS);
    const yoga = createYoga<ServerContext, GraphQLContext>({
      schema,
      graphqlEndpoint: ENDPOINT,
      // Unexpected errors reach clients as "Unexpected error."; the details go to the log only.
      // Text PostgreSQL cannot store (NUL, unpaired surrogates) is the client's input, not our fault.
      maskedErrors: {
        maskError: (error, message) => {
          const original = (error as { originalError?: unknown }).originalError ?? error;
          if (isUnstorableText(original)) {
            return new GraphQLError(
              "A string contains a character that cannot be stored (NUL, or an unpaired UTF-16 surrogate)",
              {
                extensions: { code: "BAD_USER_INPUT" },
              },
            );
          }
          if (error instanceof GraphQLError && !(error.originalError && !(error.originalError instanceof GraphQLError)))
            return error;
          // A caller's error that escaped a result union keeps its message, with the table's code.
          const answered = graphqlErrorOf(original, error instanceof GraphQLError ? error : undefined);
          if (answered) return answered;
          app.logger.error({ err: original }, "graphql resolver failed");
          return new GraphQLError(message, { extensions: { code: "INTERNAL_SERVER_ERROR" } });
        },
      },
      logging: {
        debug: (...args) => app.logger.debug({ args }, "graphql"),
        info: (...args) => app.logger.info({ args }, "graphql"),
        warn: (...args) => app.logger.warn({ args }, "graphql"),
        error: (...args) => app.logger.error({ args }, "graphql"),
      },
      // GraphiQL's scripts and styles are inlined by @graphql-yoga/render-graphiql (no CDN on the page
      // where keys are pasted); GRAPHIQL=false: no GraphiQL at all. The page is 9 MB of JavaScript
      // in a string (about 45 MiB of memory once loaded): loaded on the first GraphiQL request, not
      // at start, so an API nobody opens GraphiQL on never holds it.
      graphiql: config.GRAPHIQL ? { title: "Templified GraphQL", subscriptionsProtocol: "SSE" } : false,
      renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
      context: ({ principal, req }): GraphQLContext => ({
        app,
        principal: principal ?? null,
        requestId: "id" in req ? req.id : undefined,
      }),
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
      // No automatic HEAD twin of GET (yoga answered it 500): HEAD gets the 405 route below.
      exposeHeadRoute: false,
      handler: async (req, reply) => {
        const problem = preflight(req);
        if (problem)
          return reply.status(400).send({ errors: [{ message: problem, extensions: { code: "BAD_REQUEST" } }] });
        let principal: Principal | null;
        try {
          // The same key parsing and the same rate-limit bucket as REST: one budget per key.
          principal = await admitRequest(app, req, reply);
        } catch (err) {
          return sendGraphQLError(reply, err);
        }
        // A subscription over SSE lives as long as the response (yoga streams for any Accept that
        // allows it, */* included): every authenticated response is registered, so a revoked key's
        // stream closes like its sockets. It counts as an operation, not as a WebSocket connection.
        if (principal) {
          const forget = live.add(principal.apiKeyId, {
            kind: "http",
            close: () => reply.raw.destroy(),
            operations: () => 1,
          });
          reply.raw.once("close", forget);
        }
        return yoga.handleNodeRequestAndResponse(req, reply, { req, reply, principal: principal ?? undefined });
      },
    });

    fastify.head(ENDPOINT, async (_req, reply) => reply.status(405).header("allow", "GET, POST, OPTIONS").send());

    // graphql-ws on the same path: the upgrade is taken from Fastify's HTTP server.
    // Messages are read whole before anything is authenticated: bound them like request bodies.
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.BODY_LIMIT_BYTES });
    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Compare the path as text: parsing an arbitrary request target can throw (e.g. "//["), and
      // this listener runs outside any request's error handling.
      if ((req.url ?? "").split("?")[0] !== ENDPOINT) return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    };
    fastify.server.on("upgrade", upgrade);

    type Extra = { principal?: Principal; forget?: () => void; revoked?: boolean };
    const disposable = useServer<Record<string, unknown>, Extra>(
      {
        // The key is checked when the connection opens (4403 Forbidden otherwise), then again for
        // all open sockets every KEY_RECHECK_MS (LiveConnections): a revoked key's socket closes.
        onConnect: async (ctx) => {
          const params = ctx.connectionParams ?? {};
          const key = parseApiKey(params.authorization ?? params.Authorization);
          const principal = key ? await authenticateApiKey(app.prisma, key) : null;
          // Opening a connection spends a point too, from the address's bucket when the key is bad.
          const decision = await app.limits.requests.consume(
            bucketOf(principal, ctx.extra.request.socket.remoteAddress ?? ""),
          );
          if (decision && !decision.allowed) {
            ctx.extra.socket.close(CLOSE_TOO_MANY, `Rate limit exceeded: retry in ${decision.resetSeconds} s`);
            return false;
          }
          if (!principal) return false;
          if (principal.suspended) {
            ctx.extra.socket.close(CLOSE_FORBIDDEN, "The organisation is suspended");
            return false;
          }
          if (live.connections(principal.apiKeyId) >= config.WS_MAX_CONNECTIONS_PER_KEY) {
            ctx.extra.socket.close(
              CLOSE_TOO_MANY,
              `Too many open connections for this API key (at most ${config.WS_MAX_CONNECTIONS_PER_KEY})`,
            );
            return false;
          }
          ctx.extra.principal = principal;
          ctx.extra.forget = live.add(principal.apiKeyId, {
            kind: "ws",
            // The close handshake may take a while (a client can ignore it): nothing more runs on
            // this socket from now on, and it is cut if the client does not answer promptly.
            close: (reason) => {
              ctx.extra.revoked = true;
              ctx.extra.socket.close(CLOSE_FORBIDDEN, reason);
              setTimeout(() => ctx.extra.socket.terminate(), 1_000).unref();
            },
            operations: () => Object.keys(ctx.subscriptions).length,
          });
          return true;
        },
        onClose: (ctx) => ctx.extra.forget?.(),
        execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
        subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
        onSubscribe: async (ctx, _id, payload) => {
          if (tooDeeplyNested(payload.query))
            return [new GraphQLError(`The document is nested more than ${MAX_NESTING} levels deep`)];
          const principal = ctx.extra.principal!;
          if (ctx.extra.revoked || ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) {
            return [
              new GraphQLError("API key revoked or expired, or organisation suspended", {
                extensions: { code: "UNAUTHENTICATED" },
              }),
            ];
          }
          // ctx.subscriptions already holds this operation.
          if (Object.keys(ctx.subscriptions).length > config.WS_MAX_OPERATIONS_PER_CONNECTION) {
            return [
              limitError(`Too many operations on this connection (at most ${config.WS_MAX_OPERATIONS_PER_CONNECTION})`),
            ];
          }
          if (live.operations(principal.apiKeyId) > config.WS_MAX_OPERATIONS_PER_KEY) {
            return [
              limitError(`Too many operations for this API key (at most ${config.WS_MAX_OPERATIONS_PER_KEY} at once)`),
            ];
          }
          const decision = await app.limits.requests.consume(bucketOf(principal, ""));
          if (decision && !decision.allowed)
            return [rateLimitError(new RateLimitedError(decision, app.limits.requests.options.describe))];
          const {
            schema: enveloped,
            execute,
            subscribe,
            contextFactory,
            parse,
            validate,
          } = yoga.getEnveloped({
            req: ctx.extra.request,
            principal: ctx.extra.principal,
            params: payload,
          }) as unknown as EnvelopedFns;
          let document: DocumentNode;
          try {
            document = parse(payload.query);
          } catch (err) {
            // A syntax error ends this operation only, not the connection and its other operations.
            return [
              err instanceof GraphQLError
                ? err
                : new GraphQLError("The document could not be parsed", {
                    extensions: { code: "GRAPHQL_PARSE_FAILED" },
                  }),
            ];
          }
          const args = {
            schema: enveloped,
            operationName: payload.operationName,
            document,
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
      live.stop();
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
type Enveloped = {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
};
