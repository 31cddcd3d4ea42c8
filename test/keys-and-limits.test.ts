// API keys and rate limits, as an attacker would try them: one bucket per key whatever its
// spelling, GraphQL over HTTP and WebSocket limited like REST, caps on WebSocket connections and
// operations, a limit on redelivery, and the key lifecycle (several keys, revoke, rotate) with a
// WebSocket that loses its key mid-connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, KEY_CACHE_TTL_MS, listApiKeys, revokeApiKey, rotateApiKey } from "../src/auth/api-keys.js";
import { parseApiKey } from "../src/auth/bearer.js";
import { setOrganizationStatus } from "../src/billing/organizations.js";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { collect, gqlHttp } from "./helpers/graphql-clients.js";
import { startStack, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

const VIEWER = "{ viewer { organization { id } } }";

/** A graphql-ws client that stays connected between operations (not lazy), and its close code. */
function openClient(
  stack: Stack,
  apiKey: string,
): { client: Client; closed: () => number | undefined; connected: Promise<void> } {
  let code: number | undefined;
  let onConnected = () => {};
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const client = createClient({
    url: `${stack.baseUrl.replace("http", "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${apiKey}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { connected: onConnected, closed: (event) => (code = (event as { code: number }).code) },
  });
  return { client, closed: () => code, connected };
}

/** Runs one query or mutation to its end: "ok", or the error as JSON. */
const run = (client: Client, query: string) =>
  new Promise<string>((resolve) =>
    client.subscribe(
      { query },
      {
        next: () => {},
        error: (e) => resolve(JSON.stringify(e instanceof Error ? e.message : e)),
        complete: () => resolve("ok"),
      },
    ),
  );

/** A job that stays pending (no worker runs in these stacks): its subscription stays open. */
async function pendingJob(stack: Stack, orgId: string, n: number): Promise<string> {
  const id = `clx_pending_${orgId}_${n}`;
  await stack.app.ctx.prisma.job.create({
    data: { id, orgId, status: "pending", input: {}, format: "png", priceCents: 0 },
  });
  return id;
}

/** Subscribes to a job: "open" once its first event (the current status) arrives, else how it ended (the error). */
async function subscribeOutcome(client: Client, jobId: string): Promise<{ outcome: string; stop: () => void }> {
  let opened!: (outcome: string) => void;
  const open = new Promise<string>((resolve) => (opened = resolve));
  // The first event (the job's current status) proves the subscription is live.
  const sub = collect(
    (sink) => client.subscribe({ query: `subscription { jobStatus(jobId: "${jobId}") { status } }` }, sink),
    () => opened("open"),
  );
  const outcome = await Promise.race([
    sub.done.then(
      () => "completed",
      (e: unknown) => JSON.stringify(e),
    ),
    open,
  ]);
  return { outcome, stop: sub.stop };
}

describe("parseApiKey: one parser for every way a key is sent", () => {
  it("reads the same key from every spelling of the scheme and whitespace", () => {
    const key = "tk_live_AbC";
    for (const spelling of [
      `Bearer ${key}`,
      `bearer ${key}`,
      `BEARER ${key}`,
      `BeArEr \t ${key}`,
      `  Bearer ${key}  `,
      key,
      ` ${key}\t`,
    ]) {
      expect(parseApiKey(spelling), JSON.stringify(spelling)).toBe(key);
    }
  });
  it("finds no key where there is none, and keeps the key's case", () => {
    for (const none of [undefined, null, 42, "", "   ", "Bearer", "Bearer   ", "Basic a b", `Bearer a b`]) {
      expect(parseApiKey(none), JSON.stringify(none)).toBeNull();
    }
    expect(parseApiKey("Bearer TK_LIVE_abc")).toBe("TK_LIVE_abc");
  });
});

describe("rate limits: one budget per key, REST and GraphQL together", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_MAX: "6", RATE_LIMIT_WINDOW_MS: "30000" }, { api: true, worker: false });
  });
  afterAll(() => stack.stop());

  it("counts every spelling of the Authorization header against the same bucket", async () => {
    const { apiKey } = await stack.createOrg(0);
    const spellings = [
      `Bearer ${apiKey}`,
      `bearer ${apiKey}`,
      `BEARER  ${apiKey}`,
      `Bearer\t${apiKey} `,
      `  Bearer ${apiKey}`,
      `bEaReR ${apiKey}`,
    ];
    const statuses = [];
    for (const authorization of spellings)
      statuses.push((await stack.api(null, "GET", "/api/v1/billing", undefined, { authorization })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    const seventh = await stack.api(null, "GET", "/api/v1/billing", undefined, { authorization: `BeArer   ${apiKey}` });
    expect(seventh.status).toBe(429);
    expect(seventh.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("shares the bucket between REST and GraphQL over HTTP, and answers GraphQL's shape with 429 headers", async () => {
    const { apiKey } = await stack.createOrg(0);
    for (let i = 0; i < 3; i++) expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await gqlHttp(stack, apiKey, VIEWER)).status).toBe(200);
    const refused = await gqlHttp(stack, apiKey, VIEWER);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0].extensions.code).toBe("RATE_LIMITED");
    expect(refused.body.errors[0].message).toMatch(/Rate limit exceeded/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.headers.get("ratelimit-limit")).toBe("6");
    // REST is out of budget too.
    expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(429);
  });

  it("limits GraphQL operations over a WebSocket with the same bucket, mutations included", async () => {
    const { apiKey } = await stack.createOrg(0);
    const { client, connected } = openClient(stack, apiKey);
    try {
      await connected; // opening the connection spends one point
      const outcomes = [];
      for (let i = 0; i < 6; i++) {
        outcomes.push(
          await run(
            client,
            i % 2 ? VIEWER : `mutation { createRender(input: { templateId: "tpl_none" }) { __typename } }`,
          ),
        );
      }
      expect(outcomes.slice(0, 5)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect(outcomes[5]).toMatch(/RATE_LIMITED/);
      expect(outcomes[5]).toMatch(/Rate limit exceeded/);
      expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(429);
    } finally {
      await client.dispose();
    }
  });

  it("limits requests with a wrong key by address, so guessing keys is limited too", async () => {
    const other = await startStack(
      { RATE_LIMIT_MAX: "3", RATE_LIMIT_WINDOW_MS: "30000" },
      { api: true, worker: false },
    );
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await other.api(`tk_live_guess${i}`, "GET", "/api/v1/billing")).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await other.stop();
    }
  });
});

describe("WebSocket caps", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      {
        RATE_LIMIT_MAX: "0",
        WS_MAX_OPERATIONS_PER_CONNECTION: "3",
        WS_MAX_OPERATIONS_PER_KEY: "5",
        WS_MAX_CONNECTIONS_PER_KEY: "2",
      },
      { api: true, worker: false },
    );
  });
  afterAll(() => stack.stop());

  it("caps operations per connection and per key, and frees a slot when one ends", async () => {
    const { orgId, apiKey } = await stack.createOrg(0);
    const jobs = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((n) => pendingJob(stack, orgId, n)));
    const a = openClient(stack, apiKey);
    const b = openClient(stack, apiKey);
    try {
      const onA = [];
      for (const job of jobs.slice(0, 3)) onA.push(await subscribeOutcome(a.client, job));
      expect(onA.map((s) => s.outcome)).toEqual(["open", "open", "open"]);
      expect((await subscribeOutcome(a.client, jobs[3]!)).outcome).toMatch(
        /Too many operations on this connection \(at most 3\)/,
      );
      // Per key: 3 on a, 2 more on b, the next one is refused.
      const onB = [await subscribeOutcome(b.client, jobs[4]!), await subscribeOutcome(b.client, jobs[5]!)];
      expect(onB.map((s) => s.outcome)).toEqual(["open", "open"]);
      expect((await subscribeOutcome(b.client, jobs[6]!)).outcome).toMatch(
        /Too many operations for this API key \(at most 5 at once\)/,
      );
      // Ending one frees its slot.
      onA[0]!.stop();
      await expect
        .poll(async () => {
          const probe = await subscribeOutcome(b.client, jobs[6]!);
          probe.stop();
          return probe.outcome;
        })
        .toBe("open");
    } finally {
      await Promise.all([a.client.dispose(), b.client.dispose()]);
    }
  });

  it("caps open connections per key with close code 4429", async () => {
    const { apiKey } = await stack.createOrg(0);
    const open = [openClient(stack, apiKey), openClient(stack, apiKey)];
    try {
      await Promise.all(open.map((c) => c.connected));
      const third = openClient(stack, apiKey);
      await expect.poll(third.closed).toBe(4429);
      await third.client.dispose();
      // The two open ones still work.
      for (const c of open) expect(await run(c.client, VIEWER)).toBe("ok");
    } finally {
      for (const c of open) void c.client.dispose();
    }
  });
});

describe("API key lifecycle", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_MAX: "0", KEY_RECHECK_MS: "200" }, { api: true, worker: false });
  });
  afterAll(() => stack.stop());

  it("an organisation has several keys; revoking one stops it on REST and GraphQL at once, the others work", async () => {
    const { orgId, apiKey } = await stack.createOrg(0);
    const second = await createApiKey(stack.app.ctx.prisma, orgId, "ci");
    expect((await stack.api(second.key, "GET", "/api/v1/billing")).status).toBe(200);
    const keys = await listApiKeys(stack.app.ctx.prisma, orgId);
    expect(keys.map((k) => k.name)).toEqual(["default", "ci"]);
    expect(JSON.stringify(keys)).not.toContain(apiKey);
    await revokeApiKey(stack.app.ctx.prisma, second.view.key_id);
    expect((await stack.api(second.key, "GET", "/api/v1/billing")).status).toBe(401);
    expect((await gqlHttp(stack, second.key, VIEWER)).status).toBe(401);
    expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(200);
  });

  it("closes a WebSocket whose key is revoked mid-connection (4403), and it can create nothing after", async () => {
    const { orgId } = await stack.createOrg(100);
    const { key, view } = await createApiKey(stack.app.ctx.prisma, orgId, "browser");
    const job = await pendingJob(stack, orgId, 0);
    const { client, closed, connected } = openClient(stack, key);
    try {
      await connected;
      const live = await subscribeOutcome(client, job);
      expect(live.outcome).toBe("open");
      expect(await run(client, VIEWER)).toBe("ok");
      await revokeApiKey(stack.app.ctx.prisma, view.key_id);
      // KEY_RECHECK_MS is 200 here ("a second or two" with the default of 1000). The bound only has
      // to tell "rechecked" from "never": fifty periods, for a loaded machine.
      await expect.poll(closed, { timeout: 10_000, interval: 20 }).toBe(4403);
      expect(await run(client, `mutation { createRender(input: { templateId: "tpl_none" }) { __typename } }`)).not.toBe(
        "ok",
      );
      const org = await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
      expect(org.balanceCents).toBe(100);
    } finally {
      await client.dispose();
    }
  });

  it("closes the live connections of a suspended organisation and refuses new ones; reads still work", async () => {
    const { orgId, apiKey } = await stack.createOrg(100);
    const job = await pendingJob(stack, orgId, 1);
    const first = openClient(stack, apiKey);
    try {
      await first.connected;
      expect((await subscribeOutcome(first.client, job)).outcome).toBe("open");
      await setOrganizationStatus(stack.app.ctx.prisma, orgId, "SUSPENDED");
      await expect.poll(first.closed, { timeout: 3_000, interval: 20 }).toBe(4403);
      const again = openClient(stack, apiKey);
      await expect.poll(again.closed, { timeout: 3_000, interval: 20 }).toBe(4403);
      await again.client.dispose();
      // A suspended organisation can still read its account (to see why); renders answer 402.
      expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(200);
      await setOrganizationStatus(stack.app.ctx.prisma, orgId, "ACTIVE");
      const after = openClient(stack, apiKey);
      await after.connected;
      expect(await run(after.client, VIEWER)).toBe("ok");
      await after.client.dispose();
    } finally {
      await first.client.dispose();
    }
  });

  it("changed by another process: a revoked key is refused within a second or two, a suspension refuses renders at once", async () => {
    const { orgId, apiKey } = await stack.createOrg(100);
    const second = await createApiKey(stack.app.ctx.prisma, orgId, "ci");
    const template = await stack.api(apiKey, "POST", "/api/v1/templates", {
      width: 40,
      height: 20,
      background: "#ff0000",
      layers: [],
    });
    expect(template.status).toBe(201);
    // Both keys are now in the API's cache.
    for (const key of [apiKey, second.key]) expect((await stack.api(key, "GET", "/api/v1/billing")).status).toBe(200);
    // Written straight to the database, as the admin CLI on PostgreSQL (or another API instance) does.
    await stack.app.ctx.prisma.apiKey.update({ where: { id: second.view.key_id }, data: { revokedAt: new Date() } });
    await stack.app.ctx.prisma.organization.update({ where: { id: orgId }, data: { status: "SUSPENDED" } });
    // Paying is checked by the accept statement itself: 402 on the next request, nothing charged.
    const render = await stack.api(apiKey, "POST", "/api/v1/create", { template_id: template.body.template_id });
    expect(render.status).toBe(402);
    await until(
      async () => (await stack.api(second.key, "GET", "/api/v1/billing")).status,
      (status) => status === 401,
      { timeout: 10 * KEY_CACHE_TTL_MS, interval: 50, what: "the revoked key to be refused" },
    );
    const org = await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
    expect(org.balanceCents).toBe(100);
    expect(await stack.app.ctx.prisma.job.count({ where: { orgId } })).toBe(0);
  });

  it("rotation: a new key works at once, the old one until the overlap ends, and a revoked key cannot be rotated", async () => {
    const { orgId, apiKey } = await stack.createOrg(0);
    const [first] = await listApiKeys(stack.app.ctx.prisma, orgId);
    const rotated = await rotateApiKey(stack.app.ctx.prisma, first!.key_id, 60_000);
    expect(rotated.previous.expires_at).not.toBeNull();
    expect(rotated.view.name).toBe("default");
    expect((await stack.api(rotated.key, "GET", "/api/v1/billing")).status).toBe(200);
    expect((await stack.api(apiKey, "GET", "/api/v1/billing")).status).toBe(200);
    // The overlap ends: the old key stops (and its sockets close, by the same recheck). Written
    // behind the API's back, as another process would: the API's key cache (KEY_CACHE_TTL_MS,
    // one second) lets it work "within a second or two" at most, never longer.
    await stack.app.ctx.prisma.apiKey.update({
      where: { id: first!.key_id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    await until(
      async () => (await stack.api(apiKey, "GET", "/api/v1/billing")).status,
      (status) => status === 401,
      { timeout: 10 * KEY_CACHE_TTL_MS, interval: 50, what: "the expired key to be refused" },
    );
    expect((await stack.api(rotated.key, "GET", "/api/v1/billing")).status).toBe(200);
    // Rotating with no overlap stops the old key now.
    const again = await rotateApiKey(stack.app.ctx.prisma, rotated.view.key_id, 0);
    expect((await stack.api(rotated.key, "GET", "/api/v1/billing")).status).toBe(401);
    expect((await stack.api(again.key, "GET", "/api/v1/billing")).status).toBe(200);
    await expect(rotateApiKey(stack.app.ctx.prisma, rotated.view.key_id, 60_000)).rejects.toThrow(/revoked or expired/);
  });
});

describe("webhook redelivery is limited per organisation", () => {
  it("answers 429 with headers past REDELIVER_MAX_PER_HOUR, after checking the job", async () => {
    const stack = await startStack({ RATE_LIMIT_MAX: "0", REDELIVER_MAX_PER_HOUR: "2" });
    try {
      const { orgId, apiKey } = await stack.createOrg(10);
      // A final job with a webhook URL, written directly: the limit is what is under test here.
      const job = await stack.app.ctx.prisma.job.create({
        data: {
          id: `clx_redeliver_${orgId}`,
          orgId,
          status: "complete",
          webhookUrl: "http://127.0.0.1:9/hook",
          webhookStatus: "delivered",
          input: {},
          format: "png",
          priceCents: 0,
        },
      });
      const unknown = await stack.api(apiKey, "POST", `/api/v1/create/clx_nope/redeliver`);
      expect(unknown.status).toBe(404); // a 404 spends nothing
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await stack.api(apiKey, "POST", `/api/v1/create/${job.id}/redeliver`)).status);
      expect(statuses).toEqual([202, 202, 429]);
      const refused = await stack.api(apiKey, "POST", `/api/v1/create/${job.id}/redeliver`);
      expect(refused.body.error).toMatch(/webhook redeliveries per hour/);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await stack.stop();
    }
  });
});
