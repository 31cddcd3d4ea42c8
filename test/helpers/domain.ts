// The domain without HTTP: the process context (database, Redis, queues, event bus, storage)
// built by src/app.ts's createContext, on the test database and real Redis, with a queue prefix
// of its own. No server and no worker: a test calls accept, the transitions and the billing
// functions itself, and nothing consumes what it enqueues.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inject } from "vitest";
import type { z } from "zod";
import { createContext } from "../../src/app.js";
import { createOrganization } from "../../src/billing/organizations.js";
import { parseConfig } from "../../src/config.js";
import type { AppContext } from "../../src/context.js";
import type { EventBus } from "../../src/events/bus.js";
import type { Template } from "../../src/generated/prisma/client.js";
import type { JobView } from "../../src/jobs/view.js";
import { createLogger } from "../../src/logger.js";
import { createTemplate } from "../../src/templates/service.js";
import { cleanQueuePrefix } from "./infra.js";
import { TemplateInput } from "../../src/views/requests.js";

export interface Domain {
  ctx: AppContext;
  /** A new ACTIVE organisation with this balance (and its TOPUP row); its id. */
  createOrg(balanceCents?: number): Promise<string>;
  /** A saved template of the organisation (the body of POST /templates): 40x20 by default. */
  createTemplate(orgId: string, input?: z.input<typeof TemplateInput>): Promise<Template>;
  /** How many render jobs the queue holds (waiting or delayed; nothing consumes them here). */
  queuedRenders(): Promise<number>;
  close(): Promise<void>;
}

/** A 40x20 template (the standard price) with one rect layer "box", parsed as the API would. */
export const smallTemplate = (background = "#ff0000", name = "small"): TemplateInput =>
  TemplateInput.parse({
    name,
    width: 40,
    height: 20,
    background,
    layers: [{ type: "rect", name: "box", x: 0, y: 0, width: 10, height: 10, fill: "#0000ff" }],
  });

export async function startDomain(env: Record<string, string> = {}): Promise<Domain> {
  const storageDir = await mkdtemp(path.join(tmpdir(), "templified-domain-"));
  const config = parseConfig({
    DATABASE_URL: inject("databaseUrl"),
    REDIS_URL: inject("redisUrl"),
    QUEUE_PREFIX: `test-domain-${randomBytes(4).toString("hex")}`,
    STORAGE_DIR: storageDir,
    SECRETS_KEY: randomBytes(32).toString("base64"),
    ...env,
  });
  const ctx = await createContext(config, {
    migrate: false,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
  });
  return {
    ctx,
    async createOrg(balanceCents = 100) {
      const { org } = await createOrganization(ctx, {
        name: `domain org ${randomBytes(3).toString("hex")}`,
        balanceCents,
      });
      return org.org_id;
    },
    createTemplate: (orgId, input = smallTemplate()) => createTemplate(ctx.prisma, orgId, TemplateInput.parse(input)),
    queuedRenders: () => ctx.renderQueue.queue.count(),
    async close() {
      await ctx.events.close();
      await ctx.renderQueue.close().catch(() => {});
      await ctx.deliverQueue.close().catch(() => {});
      ctx.redis.disconnect();
      await ctx.db.close();
      await cleanQueuePrefix(config.REDIS_URL, config.QUEUE_PREFIX);
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

/**
 * Every job event of an organisation from now on, in the order Redis delivered them. `next(n)`
 * waits until n events have arrived in all. `quiet()` proves nothing else was published so far:
 * it publishes a marker on the same bus and waits for it — one publisher connection and one
 * subscriber connection keep their order, so anything published before the marker arrives first.
 */
export async function recordOrgEvents(events: EventBus, orgId: string) {
  const seen: JobView[] = [];
  const waiters = new Set<{ test: () => boolean; resolve: () => void }>();
  const until = (test: () => boolean) =>
    new Promise<void>((resolve) => {
      if (test()) resolve();
      else waiters.add({ test, resolve });
    });
  const unsubscribe = await events.subscribeOrg(orgId, (event) => {
    seen.push(event.job);
    for (const w of waiters) {
      if (!w.test()) continue;
      waiters.delete(w);
      w.resolve();
    }
  });
  const real = () => seen.filter((v) => !v.job_id.startsWith("marker_"));
  let markers = 0;
  return {
    /** The first `count` events (markers excluded), once they have arrived. */
    async next(count: number): Promise<JobView[]> {
      await until(() => real().length >= count);
      return real().slice(0, count);
    },
    /** Every event published before this call (markers excluded). */
    async quiet(): Promise<JobView[]> {
      const id = `marker_${++markers}`;
      const arrived = until(() => seen.some((v) => v.job_id === id));
      await events.publishJob({
        org_id: orgId,
        job: { job_id: id, status: "pending", created_at: new Date().toISOString() },
      });
      await arrived;
      return real();
    },
    stop: unsubscribe,
  };
}
