// The typed client (src/client, `templified/client`) against the real server: REST methods and
// their typed errors, waitForJob over graphql-ws (with `ws`) and its fallback to polling.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountSuspendedError,
  AuthenticationError,
  IdempotencyConflictError,
  InsufficientBalanceError,
  isAccepted,
  type Job,
  NetworkError,
  NotFoundError,
  RateLimitError,
  TemplifiedClient,
  TemplifiedError,
  type TemplifiedClientOptions,
  ValidationError,
  WaitTimeoutError,
} from "../src/client/index.js";
import { freePort, startStack, type Stack } from "./helpers/stack.js";

const CARD = {
  name: "Client card",
  width: 60,
  height: 40,
  background: "#1e293b",
  layers: [
    {
      type: "text" as const,
      name: "title",
      x: 2,
      y: 2,
      width: 56,
      height: 20,
      text: "Hi",
      font_size: 12,
      color: "#ffffff",
    },
  ],
};

/** API and render worker in one process. */
let stack: Stack;
/** The API alone: jobs stay pending until a worker is started, so every state is observable. */
let apiOnly: Stack;

const clientFor = (s: Stack, apiKey: string, extra: Partial<TemplifiedClientOptions> = {}) =>
  new TemplifiedClient({ baseUrl: s.baseUrl, apiKey, webSocketImpl: WebSocket, pollIntervalMs: 100, ...extra });

const clients: TemplifiedClient[] = [];
/** A client for a new organisation (closed after the file). */
async function newClient(s: Stack = stack, balanceCents = 1000, extra: Partial<TemplifiedClientOptions> = {}) {
  const org = await s.createOrg(balanceCents);
  const client = clientFor(s, org.apiKey, extra);
  clients.push(client);
  return { client, org };
}

beforeAll(async () => {
  [stack, apiOnly] = await Promise.all([startStack(), startStack({}, { api: true, worker: false })]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([stack?.stop(), apiOnly?.stop()]);
});

describe("waitForJob", () => {
  it("follows pending, processing, complete over the WebSocket and returns the complete job", async () => {
    const { client } = await newClient(apiOnly);
    const template = await client.templates.create(CARD);
    const accepted = await client.createRender({
      template_id: template.template_id,
      modifications: [{ name: "title", text: "Live" }],
      format: "png",
    });
    expect(accepted).toEqual({
      job_id: expect.any(String),
      status: "pending",
      poll_url: `/api/v1/create/${accepted.job_id}`,
    });

    const updates: Job[] = [];
    const fallbacks: unknown[] = [];
    let worker: Promise<Stack> | undefined;
    try {
      const job = await client.waitForJob(accepted.job_id, {
        timeoutMs: 20_000,
        onUpdate: (j) => {
          updates.push(j);
          // The first state came over the socket: now let a worker render it.
          // (Same public URL and storage as the API, as a real deployment would have.)
          const { PUBLIC_BASE_URL, STORAGE_DIR } = apiOnly.app.ctx.config;
          if (j.status === "pending")
            worker ??= startStack(
              { QUEUE_PREFIX: apiOnly.queuePrefix, PUBLIC_BASE_URL, STORAGE_DIR },
              { api: false, worker: true },
            );
        },
        onFallback: (reason) => fallbacks.push(reason),
      });
      expect(fallbacks).toEqual([]);
      expect(updates.map((u) => u.status)).toEqual(["pending", "processing", "complete"]);
      expect(job.status).toBe("complete");
      expect(job.output_url).toMatch(new RegExp(`/renders/${accepted.job_id}\\.png$`));
      expect(job.render_ms).toBeGreaterThanOrEqual(0);
      expect(job.completed_at).toEqual(expect.any(String));
      // Converted from GraphQL to exactly the REST poll body.
      expect(job).toEqual(await client.getJob(accepted.job_id));
      expect(updates[2]).toEqual(job);
      const image = await fetch(job.output_url!);
      expect(image.status).toBe(200);
      expect(image.headers.get("content-type")).toBe("image/png");
    } finally {
      if (worker) await (await worker).app.stop();
    }
  });

  const unavailable: [string, (port: number) => Partial<TemplifiedClientOptions>][] = [
    [
      "the WebSocket constructor throws",
      () => ({
        webSocketImpl: class {
          constructor() {
            throw new Error("WebSockets are blocked here");
          }
        },
      }),
    ],
    ["the WebSocket URL is a closed port", (port) => ({ wsUrl: `ws://127.0.0.1:${port}/graphql` })],
    ["there is no WebSocket implementation (null)", () => ({ webSocketImpl: null })],
  ];
  it.each(unavailable)("falls back to polling when %s, and still returns the final job", async (_what, options) => {
    const { client } = await newClient(stack, 1000, options(await freePort()));
    const template = await client.templates.create(CARD);
    const { job_id } = await client.createRender({ template_id: template.template_id, format: "jpeg" });
    const updates: Job[] = [];
    const fallbacks: unknown[] = [];
    const job = await client.waitForJob(job_id, {
      timeoutMs: 20_000,
      onUpdate: (j) => updates.push(j),
      onFallback: (r) => fallbacks.push(r),
    });
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toBeInstanceOf(Error);
    expect(job.status).toBe("complete");
    expect(job.output_url).toMatch(new RegExp(`/renders/${job_id}\\.jpeg$`));
    expect(updates.at(-1)).toEqual(job);
    // Never twice, never backwards.
    const order = ["pending", "processing", "complete"];
    const seen = updates.map((u) => order.indexOf(u.status));
    expect(seen).toEqual([...new Set(seen)].sort());
  });

  it("gives up after timeoutMs with WaitTimeoutError, and stops on an aborted signal", async () => {
    const { client, org } = await newClient(apiOnly);
    const template = await client.templates.create(CARD);
    const { job_id } = await client.createRender({ template_id: template.template_id });
    // No worker runs here: the job never ends, so an answer at all is the timeout's.
    const err = await client.waitForJob(job_id, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err).toBeInstanceOf(TemplifiedError);

    // Aborted while waiting: once the first state has arrived.
    const controller = new AbortController();
    const waiting = client.waitForJob(job_id, {
      signal: controller.signal,
      onUpdate: () => controller.abort(new Error("user left")),
    });
    await expect(waiting).rejects.toThrow("user left");
    // Polling obeys the timeout too.
    const polling = clientFor(apiOnly, org.apiKey, { webSocketImpl: null });
    await expect(polling.waitForJob(job_id, { timeoutMs: 300 })).rejects.toBeInstanceOf(WaitTimeoutError);
  });

  it("turns a subscription refusal into the REST error: unknown job (404), bad key (401)", async () => {
    const { client } = await newClient();
    await expect(client.waitForJob("clx_does_not_exist", { timeoutMs: 10_000 })).rejects.toBeInstanceOf(NotFoundError);
    const bad = clientFor(stack, "tk_live_not_a_real_key");
    clients.push(bad);
    await expect(bad.waitForJob("clx_does_not_exist", { timeoutMs: 10_000 })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });
});

describe("renders", () => {
  it("sync createRender answers with the finished job", async () => {
    const { client } = await newClient();
    const template = await client.templates.create(CARD);
    const result = await client.createRender(
      { template_id: template.template_id, format: "webp", quality: 70 },
      { sync: true },
    );
    expect("poll_url" in result).toBe(false);
    if (isAccepted(result)) throw new Error("expected the finished job");
    expect(result.status).toBe("complete");
    expect(result.template_id).toBe(template.template_id);
    expect(result.output_url).toMatch(/\.webp$/);
    expect(result).toEqual(await client.getJob(result.job_id));
  });

  it("createStudioRender saves the design and renders it", async () => {
    const { client } = await newClient();
    const accepted = await client.createStudioRender({ design: { ...CARD, name: "Studio design" }, format: "png" });
    expect(accepted.template_id).toMatch(/^tpl_/);
    const job = await client.waitForJob(accepted.job_id, { timeoutMs: 20_000 });
    expect(job).toMatchObject({ status: "complete", template_id: accepted.template_id });
    expect((await client.templates.get(accepted.template_id)).name).toBe("Studio design");

    const sync = await client.createStudioRender({ design: CARD }, { sync: true });
    if (isAccepted(sync)) throw new Error("expected the finished job");
    expect(sync.status).toBe("complete");
  });

  it("renders a design group: the group job settles with every item", async () => {
    const { client } = await newClient();
    const square = await client.templates.create({ ...CARD, name: "square", width: 40, height: 40 });
    const banner = await client.templates.create({ ...CARD, name: "banner", width: 80, height: 20 });
    const group = await client.designGroups.create({ name: "Campaign", template_ids: [square.template_id] });
    expect(group).toMatchObject({
      design_group_id: expect.stringMatching(/^dgr_/),
      name: "Campaign",
      template_ids: [square.template_id],
    });
    const updated = await client.designGroups.update(group.design_group_id, {
      name: "Summer",
      template_ids: [square.template_id, banner.template_id],
    });
    expect(updated.template_ids).toEqual([square.template_id, banner.template_id]);
    expect(await client.designGroups.get(group.design_group_id)).toEqual(updated);
    expect((await client.designGroups.list()).data.map((g) => g.design_group_id)).toEqual([group.design_group_id]);

    const accepted = await client.createDesignGroupRender({
      design_group_id: group.design_group_id,
      modifications: [{ name: "title", text: "Summer sale" }],
    });
    expect(accepted.status).toBe("pending");
    const job = await client.waitForJob(accepted.job_id, { timeoutMs: 20_000 });
    expect(job.status).toBe("complete");
    expect(job.design_group_id).toBe(group.design_group_id);
    expect(job.items).toHaveLength(2);
    for (const item of job.items!) {
      expect(item).toMatchObject({
        status: "complete",
        output_url: expect.stringMatching(/\/renders\/.+\.png$/),
        error: null,
      });
    }
    expect(job.items!.map((i) => i.template_id).sort()).toEqual([square.template_id, banner.template_id].sort());
    expect(job).toEqual(await client.getJob(accepted.job_id));

    const byIds = await client.createDesignGroupRender({ template_ids: [banner.template_id] });
    expect((await client.waitForJob(byIds.job_id, { timeoutMs: 20_000 })).items).toHaveLength(1);

    await client.designGroups.delete(group.design_group_id);
    await expect(client.designGroups.get(group.design_group_id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("templates", () => {
  it("create, get, list, update (new version), versions, delete", async () => {
    const { client } = await newClient();
    const created = await client.templates.create(CARD);
    expect(created).toMatchObject({
      template_id: expect.stringMatching(/^tpl_/),
      name: "Client card",
      version: 1,
      width: 60,
      height: 40,
    });
    expect(created.layers[0]).toMatchObject({ type: "text", name: "title", font_family: "Inter" }); // defaults filled in
    expect(await client.templates.get(created.template_id)).toEqual(created);

    const other = await client.templates.create({ width: 10, height: 10 });
    const first = await client.templates.list({ limit: 1 });
    expect(first.data.map((t) => t.template_id)).toEqual([other.template_id]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await client.templates.list({ limit: 1, cursor: first.next_cursor! });
    expect(second.data.map((t) => t.template_id)).toEqual([created.template_id]);

    const updated = await client.templates.update(created.template_id, { ...CARD, name: "Renamed", width: 120 });
    expect(updated).toMatchObject({ template_id: created.template_id, name: "Renamed", version: 2, width: 120 });
    const versions = await client.templates.versions(created.template_id);
    expect(versions.map((v) => [v.version, v.width])).toEqual([
      [2, 120],
      [1, 60],
    ]);

    await client.templates.delete(created.template_id);
    await expect(client.templates.get(created.template_id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("billing", () => {
  it("shows the balance, prices and ledger, page by page", async () => {
    const { client, org } = await newClient(stack, 500);
    const template = await client.templates.create(CARD);
    const job = await client.createRender({ template_id: template.template_id }, { sync: true });
    const account = await client.billing.get();
    expect(account).toMatchObject({
      org_id: org.orgId,
      balance_cents: 499,
      status: "ACTIVE",
      prices: { standard_cents: 1, large_cents: 2, large_above_megapixels: 4, background_removal_cents: 4 },
    });

    const page1 = await client.billing.ledger({ limit: 1 });
    expect(page1.data).toEqual([expect.objectContaining({ kind: "CHARGE", amount_cents: -1, job_id: job.job_id })]);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = await client.billing.ledger({ limit: 1, cursor: page1.next_cursor! });
    expect(page2.data).toEqual([expect.objectContaining({ kind: "TOPUP", amount_cents: 500, job_id: null })]);
    expect(page2.next_cursor).toBeNull();
  });
});

describe("typed errors", () => {
  it("402 Insufficient balance -> InsufficientBalanceError", async () => {
    const { client } = await newClient(stack, 0);
    const template = await client.templates.create(CARD);
    const err = await client.createRender({ template_id: template.template_id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientBalanceError);
    expect(err).toMatchObject({
      status: 402,
      message: "Insufficient balance",
      body: { error: "Insufficient balance", reason: "insufficient_balance" },
    });
  });

  it("402 for a suspended organisation -> AccountSuspendedError", async () => {
    const { client, org } = await newClient();
    const template = await client.templates.create(CARD);
    await stack.app.ctx.prisma.organization.update({ where: { id: org.orgId }, data: { status: "SUSPENDED" } });
    const err = await client.createRender({ template_id: template.template_id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountSuspendedError);
    expect(err).not.toBeInstanceOf(InsufficientBalanceError);
    expect((err as AccountSuspendedError).status).toBe(402);
    expect((err as AccountSuspendedError).body).toEqual({ error: "Insufficient balance", reason: "suspended" });
  });

  it("400 -> ValidationError with details", async () => {
    const { client } = await newClient();
    const err = await client.templates
      .create({ width: 10, height: 10, layers: [{ type: "text", name: "t", width: 5, height: 5, font_size: 5000 }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.status).toBe(400);
    expect(v.details).toContainEqual({ path: "layers[0].font_size", message: expect.any(String) });
    expect(v.message).toContain("layers[0].font_size");

    const template = await client.templates.create(CARD);
    const unknownLayer = await client
      .createRender({ template_id: template.template_id, modifications: [{ name: "nope", text: "x" }] })
      .catch((e: unknown) => e);
    expect(unknownLayer).toBeInstanceOf(ValidationError);
    expect((unknownLayer as ValidationError).details.length).toBeGreaterThan(0);
  });

  it("404 -> NotFoundError", async () => {
    const { client } = await newClient();
    const err = await client.getJob("clx_does_not_exist").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ status: 404 });
    await expect(client.createRender({ template_id: "tpl_missing" })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("Idempotency-Key: a replay answers the same job; another body -> IdempotencyConflictError (422)", async () => {
    const { client } = await newClient();
    const template = await client.templates.create(CARD);
    const key = `order-${Date.now()}`;
    const first = await client.createRender({ template_id: template.template_id }, { idempotencyKey: key });
    const again = await client.createRender({ template_id: template.template_id }, { idempotencyKey: key });
    expect(again.job_id).toBe(first.job_id);
    const err = await client
      .createRender({ template_id: template.template_id, format: "jpeg" }, { idempotencyKey: key })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyConflictError);
    expect(err).toMatchObject({ status: 422 });
  });

  it("401 -> AuthenticationError", async () => {
    const client = clientFor(stack, "tk_live_not_a_real_key");
    const err = await client.billing.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ status: 401, message: "Invalid API key" });
  });

  it("429 -> RateLimitError with retryAfterSeconds", async () => {
    const limited = await startStack(
      { RATE_LIMIT_MAX: "2", RATE_LIMIT_WINDOW_MS: "10000" },
      { api: true, worker: false },
    );
    try {
      const client = clientFor(limited, (await limited.createOrg(0)).apiKey);
      await client.billing.get();
      await client.billing.get();
      const err = await client.billing.get().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitError);
      expect((err as RateLimitError).status).toBe(429);
      expect((err as RateLimitError).retryAfterSeconds).toBeGreaterThan(0);
      expect((err as RateLimitError).retryAfterSeconds).toBeLessThanOrEqual(10);
      expect((err as RateLimitError).message).toMatch(/Rate limit exceeded/);
    } finally {
      await limited.stop();
    }
  });

  it("an unreachable API -> NetworkError", async () => {
    const client = new TemplifiedClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: "tk_live_x" });
    const err = await client.billing.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toBeInstanceOf(TemplifiedError);
    expect((err as NetworkError).status).toBe(0);
  });
});

describe("exportDesign", () => {
  let receiver: Server;
  let receiverUrl: string;
  const received: { headers: IncomingHttpHeaders; bytes: number }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let bytes = 0;
      req.on("data", (c: Buffer) => (bytes += c.length));
      req.on("end", () => {
        received.push({ headers: req.headers, bytes });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/upload`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it("async: true -> { ok: true, async: true, job_id } and nothing else", async () => {
    const { client } = await newClient();
    const template = await client.templates.create(CARD);
    const result = await client.exportDesign("webhook", {
      template_id: template.template_id,
      url: receiverUrl,
      async: true,
    });
    expect(result).toEqual({ ok: true, async: true, job_id: expect.any(String) });
    const job = await client.waitForJob(result.job_id, { timeoutMs: 20_000 });
    expect(job).toMatchObject({ status: "complete", send_to_status: "delivered" });
  });

  it("sync -> { ok, async: false, job_id, outputUrl } after the destination took the image", async () => {
    const { client } = await newClient();
    const template = await client.templates.create(CARD);
    const result = await client.exportDesign("webhook", {
      template_id: template.template_id,
      url: receiverUrl,
      format: "png",
    });
    if (result.async) throw new Error("expected the done answer");
    expect(result.async === false && result.ok).toBe(true);
    expect(result.outputUrl).toMatch(new RegExp(`/renders/${result.job_id}\\.png$`));
    expect(result.error).toBeUndefined();
    const delivery = received.find((r) => r.headers["x-templified-job-id"] === result.job_id);
    expect(delivery?.bytes).toBeGreaterThan(0);
    expect(delivery?.headers["content-type"]).toBe("application/json"); // the image, base64 in a JSON message
    expect(await client.getJob(result.job_id)).toMatchObject({ send_to_status: "delivered" });
  });
});

describe("extras", () => {
  it("send-to presets, webhook secret, deliveries and health", async () => {
    const { client } = await newClient();
    const preset = await client.sendToPresets.create({
      name: "Box",
      destination: { type: "dropbox", access_token: "sl.token-123456789", path: "/renders" },
    });
    expect(preset).toMatchObject({
      preset_id: expect.stringMatching(/^stp_/),
      type: "dropbox",
      destination: { path: "/renders" },
    });
    expect(preset.destination.access_token).not.toBe("sl.token-123456789");
    expect((await client.sendToPresets.list()).map((p) => p.preset_id)).toEqual([preset.preset_id]);
    await client.sendToPresets.delete(preset.preset_id);
    await expect(client.sendToPresets.get(preset.preset_id)).rejects.toBeInstanceOf(NotFoundError);

    const secret = await client.webhooks.secret();
    expect(secret.webhook_secret).toMatch(/^whsec_/);
    const rotated = await client.webhooks.rotateSecret();
    expect(rotated.webhook_secret).not.toBe(secret.webhook_secret);
    expect(rotated.previous_secret_expires_at).toEqual(expect.any(String));

    const template = await client.templates.create(CARD);
    const job = await client.createRender({ template_id: template.template_id }, { sync: true });
    expect(await client.deliveries(job.job_id)).toEqual([]);
    await expect(client.redeliver(job.job_id)).rejects.toBeInstanceOf(ValidationError); // no webhook_url
    expect(await client.health()).toEqual({ status: "ok" });
  });
});
