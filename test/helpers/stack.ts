// The real stack for a test file: API + render worker in-process on a free port, on the test
// database and real Redis, with a queue prefix of its own so files never see each other's jobs.
// Outputs and fonts go to a temporary directory, or (storage: "s3") to a bucket on a loopback S3
// server the stack starts and stops with itself.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { cleanQueuePrefix, freePort } from "./infra.js";
import { s3Env, startS3TestServer, type S3TestServer } from "./s3-server.js";

export { cleanQueuePrefix, freePort };
// Waiting for a job lives with the other waits; re-exported for the files that import it from here.
export { waitForFinal } from "./wait.js";
import { buildApp, type App } from "../../src/app.js";
import { createOrganization } from "../../src/billing/organizations.js";
import { parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";

export type StorageChoice = "disk" | "s3";
/** Both backends, for describe.each over the tests every backend must pass. */
export const STORAGE_BACKENDS: StorageChoice[] = ["disk", "s3"];

export interface StackOptions {
  /** Where outputs and fonts go: a temporary directory (default) or a loopback S3 bucket. */
  storage?: StorageChoice;
}

export interface Stack {
  app: App;
  /** The S3 server and bucket when the stack stores in S3. */
  s3: { server: S3TestServer; bucket: string } | null;
  baseUrl: string;
  queuePrefix: string;
  /** A new organisation with an API key. */
  createOrg(balanceCents?: number): Promise<{ orgId: string; apiKey: string }>;
  /** fetch() against the API with the key as a bearer token and JSON in and out. */
  api(
    apiKey: string | null,
    method: string,
    route: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

// One key per test process: stacks that share a queue (API here, worker there) must decrypt each
// other's stored send_to.
const SECRETS_KEY = randomBytes(32).toString("base64");

export async function startStack(
  env: Record<string, string> = {},
  roles = { api: true, worker: true },
  options: StackOptions = {},
): Promise<Stack> {
  const port = await freePort();
  const storageDir = await mkdtemp(path.join(tmpdir(), "templified-test-"));
  const bucket = "templified-test";
  const s3Server = options.storage === "s3" ? await startS3TestServer({ buckets: [bucket] }) : null;
  const storageEnv = s3Server ? { ...s3Env(s3Server, bucket), S3_CACHE_DIR: path.join(storageDir, "cache") } : {};
  const config = parseConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: inject("databaseUrl"),
    REDIS_URL: inject("redisUrl"),
    QUEUE_PREFIX: `test-${randomBytes(4).toString("hex")}`,
    STORAGE_DIR: storageDir,
    ALLOW_PRIVATE_NETWORKS: "true",
    RENDER_ATTEMPTS: "2",
    RECONCILE_INTERVAL_MS: "60000",
    SECRETS_KEY,
    WEBHOOK_RETRY_SCHEDULE: "0,200,400,800",
    ...storageEnv,
    ...env,
  });
  let app: App;
  try {
    app = await buildApp(config, {
      ...roles,
      migrate: false,
      logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    });
  } catch (err) {
    await s3Server?.stop(); // nothing else was started
    await rm(storageDir, { recursive: true, force: true });
    throw err;
  }
  await app.start();
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    app,
    s3: s3Server && { server: s3Server, bucket },
    baseUrl,
    queuePrefix: config.QUEUE_PREFIX,
    async createOrg(balanceCents = 1000) {
      const { org, apiKey } = await createOrganization(app.ctx, {
        name: `test org ${randomBytes(3).toString("hex")}`,
        balanceCents,
      });
      return { orgId: org.org_id, apiKey };
    },
    async api(apiKey, method, route, body, headers = {}) {
      const res = await fetch(baseUrl + route, {
        method,
        headers: {
          ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await app.stop();
      await cleanQueuePrefix(config.REDIS_URL, config.QUEUE_PREFIX);
      await s3Server?.stop();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
