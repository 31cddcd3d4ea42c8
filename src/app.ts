// Builds the process: context (db, redis, queue, bus, storage), then the parts asked for —
// the HTTP API, the render worker, or both — with one start and one orderly stop.
import type { Logger } from "pino";
import { createRateLimits } from "./auth/rate-limiter.js";
import { priceTable } from "./billing/prices.js";
import type { Config } from "./config.js";
import type { AppContext } from "./context.js";
import { openDatabase } from "./db/client.js";
import { EventBus } from "./events/bus.js";
import type { HttpServer } from "./http/server.js";
import { markFailed } from "./jobs/transitions.js";
import { createLogger } from "./logger.js";
import { startReconciler } from "./queue/reconciler.js";
import { RenderQueue } from "./queue/render-queue.js";
import { checkRedis, createRedis } from "./redis.js";
import { openStorage } from "./storage/open-storage.js";
import { createOutputLinks } from "./storage/output-links.js";
import { startRetentionSweeper } from "./storage/retention.js";
import type { RenderWorker } from "./workers/render-worker.js";
import type { DeliverWorker } from "./workers/deliver-worker.js";
import { parseRetrySchedule } from "./delivery/retry-schedule.js";
import { loadSecretsKey } from "./delivery/secrets-key.js";
import { encryptLegacyWebhookSecrets } from "./delivery/webhook-secrets.js";
import { DeliverQueue } from "./queue/deliver-queue.js";
import { PreviewQueue } from "./queue/preview-queue.js";

export interface AppOptions {
  api: boolean;
  /** true: the render and deliver workers; or just one of them. */
  worker: boolean | "render" | "deliver";
  /** Apply pending migrations at start (npm start does; tests migrate once up front). */
  migrate?: boolean;
  logger?: Logger;
}

export interface App {
  ctx: AppContext;
  server: HttpServer | null;
  /** Listens (API) and starts consuming (worker). Returns the bound address when serving. */
  start(): Promise<string | null>;
  /** Stops accepting, lets in-flight requests and renders finish within the bound, closes all. */
  stop(): Promise<void>;
}

export async function createContext(
  config: Config,
  opts: { migrate: boolean; logger?: Logger | undefined },
): Promise<AppContext> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  await checkRedis(config.REDIS_URL);
  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    pgliteDir: config.PGLITE_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
    migrate: opts.migrate,
    log: (msg) => logger.info(msg),
  });
  // Request paths fail fast when Redis is away (the reconciler enqueues later) instead of hanging.
  const redis = createRedis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  const renderQueue = new RenderQueue({
    connection: { url: config.REDIS_URL, maxRetriesPerRequest: 1, enableOfflineQueue: false },
    prefix: config.QUEUE_PREFIX,
    attempts: config.RENDER_ATTEMPTS,
    sql: db.sql,
    orgSlots: config.RENDER_ORG_SLOTS,
  });
  renderQueue.queue.on("error", (err) => logger.warn({ err: err.message }, "render queue error"));
  const webhookSchedule = parseRetrySchedule(config.WEBHOOK_RETRY_SCHEDULE);
  const deliverQueue = new DeliverQueue({
    connection: { url: config.REDIS_URL, maxRetriesPerRequest: 1, enableOfflineQueue: false },
    prefix: config.QUEUE_PREFIX,
    sendToAttempts: config.DELIVERY_ATTEMPTS,
    webhookSchedule,
  });
  deliverQueue.queue.on("error", (err) => logger.warn({ err: err.message }, "deliver queue error"));
  const secretsKey = await loadSecretsKey(config);
  const storage = await openStorage(config, (msg) => logger.warn(msg));
  if (opts.migrate) {
    // With the schema migrations: webhook secrets a version before encryption stored in plaintext.
    const encrypted = await encryptLegacyWebhookSecrets(db.prisma, secretsKey);
    if (encrypted > 0) logger.info({ encrypted }, "encrypted plaintext webhook secrets at rest");
  }
  return {
    config,
    logger,
    db,
    prisma: db.prisma,
    sql: db.sql,
    redis,
    renderQueue,
    deliverQueue,
    previewQueue: new PreviewQueue({
      connection: { url: config.REDIS_URL, maxRetriesPerRequest: 1, enableOfflineQueue: false },
      prefix: config.QUEUE_PREFIX,
      onError: (err) => logger.error({ err: err.message }, "preview queue error"),
    }),
    secretsKey,
    webhookSchedule,
    events: new EventBus(redis, config.QUEUE_PREFIX),
    storage,
    outputLinks: createOutputLinks({ config, storage, secretsKey }),
    prices: priceTable(config),
    limits: createRateLimits(redis, {
      prefix: config.QUEUE_PREFIX,
      requestMax: config.RATE_LIMIT_MAX,
      requestWindowMs: config.RATE_LIMIT_WINDOW_MS,
      previewMax: config.PREVIEW_RATE_LIMIT_MAX,
      previewWindowMs: config.PREVIEW_RATE_LIMIT_WINDOW_MS,
      redeliverMaxPerHour: config.REDELIVER_MAX_PER_HOUR,
    }),
  };
}

export async function buildApp(config: Config, opts: AppOptions): Promise<App> {
  const ctx = await createContext(config, { migrate: opts.migrate ?? true, logger: opts.logger });
  // Each role loads only its own code: the API never loads the renderer (sharp, libvips, fonts),
  // a worker never loads the HTTP and GraphQL servers. Memory per process is the point.
  const server = opts.api ? (await import("./http/server.js")).buildServer(ctx) : null;
  let worker: RenderWorker | null = null;
  let deliverWorker: DeliverWorker | null = null;
  let reconciler: { stop: () => Promise<void> } | null = null;
  let retention: { stop: () => Promise<void> } | null = null;
  let stopping: Promise<void> | null = null;

  return {
    ctx,
    server,
    async start() {
      if (opts.worker === true || opts.worker === "deliver")
        deliverWorker = (await import("./workers/deliver-worker.js")).createDeliverWorker(ctx);
      if (opts.worker === true || opts.worker === "render") {
        worker = (await import("./workers/render-worker.js")).createRenderWorker(ctx);
        // The worker side owns repair: pending jobs no queue holds are enqueued again.
        reconciler = startReconciler(
          {
            prisma: ctx.prisma,
            renderQueue: ctx.renderQueue,
            deliverQueue: ctx.deliverQueue,
            logger: ctx.logger,
            failJob: (id, error) => markFailed(ctx, id, error),
          },
          config.RECONCILE_INTERVAL_MS,
        );
        // Beside the reconciler, on the worker side: any number of workers may sweep at once.
        if (config.OUTPUT_RETENTION_DAYS !== undefined)
          retention = startRetentionSweeper(ctx, config.OUTPUT_RETENTION_DAYS, config.OUTPUT_RETENTION_INTERVAL_MS);
      }
      if (!server) return null;
      return server.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopping ??= (async () => {
        const bound = new Promise<void>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref());
        await Promise.race([
          Promise.all([
            server?.close(),
            worker?.close(),
            deliverWorker?.close(),
            reconciler?.stop(),
            retention?.stop(),
          ]),
          bound.then(() => ctx.logger.warn("shutdown bound reached; closing with work in flight")),
        ]);
        await worker?.close(true).catch(() => {});
        await deliverWorker?.close(true).catch(() => {});
        await ctx.deliverQueue.close().catch(() => {});
        await ctx.previewQueue.close().catch(() => {});
        await ctx.events.close();
        await ctx.renderQueue.close().catch(() => {});
        ctx.redis.disconnect();
        await ctx.db.close();
        ctx.storage.close?.();
      })();
      return stopping;
    },
  };
}
