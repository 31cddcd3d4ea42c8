// Environment -> typed config, parsed once. An invalid value stops the start with a message
// that names the variable, instead of surfacing later as a confusing runtime error.
import path from "node:path";
import { z } from "zod";
import { parseRetrySchedule } from "./delivery/retry-schedule.js";
import { PROJECT_ROOT } from "./project-root.js";

/** The model the project ships (models/NOTICE.md), found from the project's root whatever the cwd. */
const SHIPPED_BACKGROUND_REMOVAL_MODEL = path.join(PROJECT_ROOT, "models", "u2netp.onnx");

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default("0.0.0.0"),
    PUBLIC_BASE_URL: z.url().optional(),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
      .optional(),
    /** PostgreSQL connections each process keeps open, at most (each costs the server about 10 MiB). */
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
    PGLITE_DIR: z.string().min(1).default("./data/pglite"),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
      .default("redis://127.0.0.1:6379"),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _ . : - only")
      .default("templified"),
    /** disk: STORAGE_DIR on this machine (one machine); s3: a bucket every process shares (a cluster). */
    STORAGE_BACKEND: z.enum(["disk", "s3"]).default("disk"),
    STORAGE_DIR: z.string().min(1).default("./data/renders"),
    /**
     * How output_url links are made: `public` (the unguessable key is the capability, links never
     * expire) or `signed` (links carry an expiry and a signature: S3 presigned URLs, or the API's
     * own HMAC-signed /renders links on local disk).
     */
    OUTPUT_LINKS: z.enum(["public", "signed"]).default("public"),
    /** How long a signed link works after the view that carried it was made. At most 7 days (S3's limit). */
    OUTPUT_LINK_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(1)
      .max(604_800, "at most 604800 (7 days, the longest an S3 presigned URL lives)")
      .default(604_800),
    /** Outputs of jobs completed longer ago than this many days are deleted from storage. Unset: kept forever. */
    OUTPUT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).optional(),
    /** How often the retention sweep runs (when OUTPUT_RETENTION_DAYS is set). */
    OUTPUT_RETENTION_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
    S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "a bucket name: 3-63 lowercase letters, digits, dots and hyphens")
      .optional(),
    /** R2 takes "auto"; self-hosted stores usually ignore it but the signature includes it. */
    S3_REGION: z.string().min(1).default("us-east-1"),
    /** Unset: AWS S3. MinIO, Ceph RGW, R2: their URL. */
    S3_ENDPOINT: z.url().optional(),
    S3_FORCE_PATH_STYLE: bool.default(false),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    /** Prepended to every object key, so deployments can share a bucket. */
    S3_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/?$/, "path segments of letters, digits, _ . - joined by /")
      .optional(),
    /** Where the S3 backend keeps local copies of objects the renderer reads as files (uploaded fonts). */
    S3_CACHE_DIR: z.string().min(1).optional(),
    ALLOW_PRIVATE_NETWORKS: bool.default(false),
    /** Render jobs in flight per worker process: downloading their images, waiting for a CPU slot or rendering. */
    RENDER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
    /** Renders drawing and encoding at once per worker process (the CPU stage). Unset: the available cores. */
    RENDER_CPU_SLOTS: z.coerce.number().int().min(1).max(256).optional(),
    /** Images per worker process downloaded (or held, downloaded) ahead of their render; an organisation gets at most half. */
    RENDER_FETCH_SLOTS: z.coerce.number().int().min(4).max(1024).default(16),
    /** Render jobs of one organisation admitted to the queue and unfinished, at most, across all workers. */
    RENDER_ORG_SLOTS: z.coerce.number().int().min(1).max(10_000).default(8),
    RENDER_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
    /** How long a render's queue lock lives without renewal: a killed worker's job runs again after it. */
    RENDER_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
    /** Wall-clock budget of one render: past it the job fails (refunded, not retried). */
    RENDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
    IMAGE_FETCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    IMAGE_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(20 * 1024 * 1024),
    IMAGE_CACHE_TTL_MS: z.coerce.number().int().min(0).default(60_000),
    /** Bytes of fetched images a render worker keeps for reuse (the largest part of its memory it controls). */
    IMAGE_CACHE_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    /** The ONNX model that removes backgrounds (a U²-Net-style salient-object model). Unset: the shipped U²-Net-p. */
    BACKGROUND_REMOVAL_MODEL: z.string().min(1).optional(),
    /** Side of the square the photo is resized to for the model (the model's input size). */
    BACKGROUND_REMOVAL_INPUT_SIZE: z.coerce.number().int().min(32).max(2048).default(320),
    /** Background removals running at once per worker process (each holds the model's working memory). */
    BACKGROUND_REMOVAL_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
    /** Cores one removal's model run uses (onnxruntime intra-op threads): faster removals, fewer cores left for renders. */
    BACKGROUND_REMOVAL_THREADS: z.coerce.number().int().min(1).max(64).default(1),
    /** Bytes of cut-outs a render worker keeps, by source content, so a batch with one photo removes it once. */
    BACKGROUND_REMOVAL_CACHE_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    FONT_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(5 * 1024 * 1024),
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    PRICE_CENTS_PER_RENDER: z.coerce.number().int().min(0).default(1),
    PRICE_CENTS_LARGE_RENDER: z.coerce.number().int().min(0).default(2),
    /** Added to a render's price per background removal it runs: each distinct image it draws with remove_background (docs/money.md). */
    PRICE_CENTS_BACKGROUND_REMOVAL: z.coerce.number().int().min(0).default(4),
    /** 32 bytes, base64 or hex: encrypts Send-To credentials and webhook secrets at rest. Unset: a key file in ./data. */
    SECRETS_KEY: z.string().min(1).optional(),
    SECRETS_KEY_FILE: z.string().min(1).default("./data/secrets.key"),
    WEBHOOK_RETRY_SCHEDULE: z.string().optional(),
    DELIVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
    DELIVERY_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
    DROPBOX_CONTENT_URL: z.url().default("https://content.dropboxapi.com"),
    SYNC_TIMEOUT_MS: z.coerce.number().int().min(0).max(120_000).default(25_000),
    /** Requests per window per API key: REST requests and GraphQL operations share one bucket. 0: off. */
    RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(100),
    /** The window, counted in whole seconds (the limiter's granularity). */
    RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000, "at least 1000 (one second)").default(1000),
    /** Previews per window per API key, a bucket of their own (a preview also counts as a request). 0: off. */
    PREVIEW_RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(20),
    /** The previews' window, counted in whole seconds. */
    PREVIEW_RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000, "at least 1000 (one second)").default(1000),
    /** Previews of one API key waiting for a render worker at once, per API process; past it 429. */
    PREVIEW_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1000).default(4),
    /** How long the API waits for a render worker to answer a preview: past it 503. */
    PREVIEW_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    /** Webhook redeliveries per organisation per hour. 0: off. */
    REDELIVER_MAX_PER_HOUR: z.coerce.number().int().min(0).default(60),
    /** Operations (subscriptions, queries, mutations) in flight on one graphql-ws connection. */
    WS_MAX_OPERATIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(100),
    /** Operations in flight over graphql-ws per API key, per API instance. */
    WS_MAX_OPERATIONS_PER_KEY: z.coerce.number().int().min(1).default(1000),
    /** Open graphql-ws connections per API key, per API instance. */
    WS_MAX_CONNECTIONS_PER_KEY: z.coerce.number().int().min(1).default(50),
    /** How often open WebSockets' keys are checked again: a revoked key's sockets close within this. */
    KEY_RECHECK_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(25_000),
    GRAPHQL_INTROSPECTION: bool.default(true),
    GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(1).default(12),
    GRAPHQL_MAX_COST: z.coerce.number().int().min(1).default(5000),
    /** GraphiQL (assets served from this process, no CDN) at GET /graphql in a browser; false: none. */
    GRAPHIQL: bool.default(true),
    /** When set, GET /metrics needs `Authorization: Bearer <token>`; unset: /metrics is open. */
    METRICS_TOKEN: z
      .string()
      .min(16, "at least 16 characters")
      .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
      .optional(),
    /** Password (user "admin") for the queue dashboard at /admin/queues; unset: no dashboard. */
    ADMIN_PASSWORD: z.string().min(8, "at least 8 characters").optional(),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .superRefine((env, ctx) => {
    if (env.STORAGE_BACKEND === "s3" && !env.S3_BUCKET)
      ctx.addIssue({ code: "custom", path: ["S3_BUCKET"], message: "required when STORAGE_BACKEND=s3" });
    // One without the other would silently fall back to the SDK's credential chain.
    if (!env.S3_ACCESS_KEY_ID !== !env.S3_SECRET_ACCESS_KEY)
      ctx.addIssue({
        code: "custom",
        path: [env.S3_ACCESS_KEY_ID ? "S3_SECRET_ACCESS_KEY" : "S3_ACCESS_KEY_ID"],
        message: "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are set together or not at all",
      });
  })
  .transform((env) => ({
    ...env,
    PUBLIC_BASE_URL: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ""),
    PGLITE_DIR: path.resolve(env.PGLITE_DIR),
    STORAGE_DIR: path.resolve(env.STORAGE_DIR),
    SECRETS_KEY_FILE: path.resolve(env.SECRETS_KEY_FILE),
    BACKGROUND_REMOVAL_MODEL: env.BACKGROUND_REMOVAL_MODEL
      ? path.resolve(env.BACKGROUND_REMOVAL_MODEL)
      : SHIPPED_BACKGROUND_REMOVAL_MODEL,
  }));

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Parses the given environment; throws ConfigError naming every invalid variable. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set": `FOO= npm start` should not fail on FOO.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = ConfigSchema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  try {
    parseRetrySchedule(result.data.WEBHOOK_RETRY_SCHEDULE);
  } catch (e) {
    throw new ConfigError(`Invalid configuration:\n  WEBHOOK_RETRY_SCHEDULE: ${(e as Error).message}`);
  }
  return result.data;
}

/** A connection URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url; // nothing to hide: shown as written
    parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
