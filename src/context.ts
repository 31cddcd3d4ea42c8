// What the running process holds: configuration and one instance of each side-effecting
// dependency. Built once in src/app.ts and handed down; domain functions take the parts they use.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RateLimits } from "./auth/rate-limiter.js";
import type { PriceTable } from "./billing/prices.js";
import type { Config } from "./config.js";
import type { Database, Prisma } from "./db/client.js";
import type { Sql } from "./db/sql.js";
import type { EventBus } from "./events/bus.js";
import type { DeliverQueue } from "./queue/deliver-queue.js";
import type { PreviewQueue } from "./queue/preview-queue.js";
import type { RenderQueue } from "./queue/render-queue.js";
import type { OutputLinks } from "./storage/output-links.js";
import type { Storage } from "./storage/storage.js";

export interface AppContext {
  config: Config;
  logger: Logger;
  db: Database;
  prisma: Prisma;
  /** db.sql: plain SQL for the hot statements. */
  sql: Sql;
  redis: Redis;
  renderQueue: RenderQueue;
  deliverQueue: DeliverQueue;
  /** Previews on their way to the render workers (src/previews/preview-service.ts). */
  previewQueue: PreviewQueue;
  /** Encrypts secrets at rest: Send-To credentials and webhook signing secrets. */
  secretsKey: Buffer;
  /** Delays before each webhook attempt (WEBHOOK_RETRY_SCHEDULE). */
  webhookSchedule: number[];
  events: EventBus;
  storage: Storage;
  /** Makes output_url links (public or signed, OUTPUT_LINKS) and checks signed ones. */
  outputLinks: OutputLinks;
  prices: PriceTable;
  limits: RateLimits;
}
