// Live job updates over graphql-ws and SSE with real clients: order, completion, authorisation,
// no leaked listeners or Redis subscriptions, and events across API instances.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { collect, gqlHttp, sseClient, wsClient, type Result } from "./helpers/graphql-clients.js";
import { startStack, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

// The API alone: jobs stay pending until a worker is started, so every status is observable.
let api: Stack;
let org: { orgId: string; apiKey: string };
let templateId: string;

beforeAll(async () => {
  // 1,000 operations below: the rate limits have tests of their own.
  api = await startStack({ RATE_LIMIT_MAX: "0" }, { api: true, worker: false });
  org = await api.createOrg(10_000);
  templateId = (
    await api.api(org.apiKey, "POST", "/api/v1/templates", { width: 30, height: 20, background: "#336699" })
  ).body.template_id;
});
afterAll(() => api?.stop());

const CREATE = `mutation($t: String!) { createRender(input: { templateId: $t, format: png }) { __typename ... on Job { id status } } }`;
const STATUS = `subscription($id: ID!) { jobStatus(jobId: $id) { id status outputUrl renderMs error } }`;

async function createJob(stack: Stack = api, apiKey = org.apiKey): Promise<string> {
  const res = await gqlHttp(stack, apiKey, CREATE, { t: templateId });
  expect(res.body.data.createRender.__typename, JSON.stringify(res.body)).toBe("Job");
  return res.body.data.createRender.id;
}

/** Starts a render worker on the API's queue (a separate "machine"). */
const startWorker = () => startStack({ QUEUE_PREFIX: api.queuePrefix }, { api: false, worker: true });

describe("jobStatus over graphql-ws", () => {
  it("sends the current state at once, then processing and complete with the output URL, then completes", async () => {
    const jobId = await createJob();
    const client = wsClient(api, org.apiKey);
    const started: { worker?: Promise<Stack> } = {};
    try {
      const results = await collect(
        (sink) => client.subscribe({ query: STATUS, variables: { id: jobId } }, sink),
        (_r, all) => {
          if (all.length === 1) started.worker = startWorker(); // got "pending": now let it render
        },
      ).done;
      expect(results.map((r: Result) => r.data.jobStatus.status)).toEqual(["pending", "processing", "complete"]);
      const last = results[2]!.data.jobStatus;
      expect(last.outputUrl).toMatch(new RegExp(`/renders/${jobId}\\.png$`));
      expect(last.renderMs).toBeGreaterThanOrEqual(0);
    } finally {
      await client.dispose();
      if (started.worker) await (await started.worker).app.stop();
    }
  });

  it("refuses another organisation's job with NOT_FOUND", async () => {
    const jobId = await createJob();
    const other = await api.createOrg(0);
    const client = wsClient(api, other.apiKey);
    const results = await collect((sink) => client.subscribe({ query: STATUS, variables: { id: jobId } }, sink)).done;
    expect(results).toHaveLength(1);
    expect(results[0]!.data ?? null).toBeNull();
    expect(results[0]!.errors![0].extensions.code).toBe("NOT_FOUND");
    await client.dispose();
  });

  it("refuses a connection without a valid key (4403) before any operation runs", async () => {
    for (const key of [null, "tk_live_not_a_real_key"]) {
      let code = 0;
      const client = wsClient(api, key, { onClose: (c) => (code = c) });
      await expect(
        collect((sink) => client.subscribe({ query: "subscription { jobUpdates { id } }" }, sink)).done,
      ).rejects.toBeDefined();
      expect(code).toBe(4403);
      await client.dispose();
    }
  });
});

describe("jobUpdates", () => {
  /** Subscribes to jobUpdates on `on`, runs `act` (which returns the job to follow), then waits for its completion. */
  async function followUpdates(
    on: Stack,
    act: () => Promise<string>,
  ): Promise<{ jobId: string; seen: { id: string; status: string }[] }> {
    const listeners = () => on.app.ctx.events.listenerCount();
    // Earlier tests' subscriptions are gone first, so the count below is this one's.
    await until(listeners, (n) => n === 0, { what: "no event listener left from earlier tests" });
    const client = wsClient(on, org.apiKey);
    const seen: { id: string; status: string }[] = [];
    let jobId = "";
    let resolveComplete!: () => void;
    const completed = new Promise<void>((r) => (resolveComplete = r));
    const sub = collect(
      (sink) => client.subscribe({ query: "subscription { jobUpdates { id status } }" }, sink),
      (r) => {
        seen.push(r.data.jobUpdates);
        if (r.data.jobUpdates.id === jobId && r.data.jobUpdates.status === "complete") resolveComplete();
      },
    );
    let worker: Stack | null = null;
    try {
      // The server holds the subscription (confirmed by Redis) before anything happens.
      await until(listeners, (n) => n > 0, { what: "the jobUpdates subscription to be registered" });
      jobId = await act();
      worker = await startWorker();
      await completed;
      return { jobId, seen };
    } finally {
      sub.stop();
      await client.dispose();
      await worker?.app.stop();
    }
  }

  it("streams every change of the organisation's jobs, and only theirs", async () => {
    const other = await api.createOrg(100);
    const otherTpl = (await api.api(other.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body
      .template_id;
    const otherJob = (await api.api(other.apiKey, "POST", "/api/v1/create", { template_id: otherTpl })).body.job_id;
    const { jobId, seen } = await followUpdates(api, () => createJob());
    expect(seen.filter((e) => e.id === jobId).map((e) => e.status)).toEqual(["pending", "processing", "complete"]);
    expect(seen.map((e) => e.id)).not.toContain(otherJob);
  });

  it("works across API instances: subscribe on A, create on B, render on a worker elsewhere", async () => {
    const b = await startStack({ QUEUE_PREFIX: api.queuePrefix }, { api: true, worker: false });
    try {
      const { jobId, seen } = await followUpdates(api, () => createJob(b));
      expect(seen.filter((e) => e.id === jobId).map((e) => e.status)).toEqual(["pending", "processing", "complete"]);
    } finally {
      await b.app.stop();
    }
  });
});

describe("jobStatus over Server-Sent Events", () => {
  it("delivers the same sequence to an SSE client", async () => {
    const jobId = await createJob();
    const client = sseClient(api, org.apiKey);
    const started: { worker?: Promise<Stack> } = {};
    try {
      const results = await collect(
        (sink) => client.subscribe({ query: STATUS, variables: { id: jobId } }, sink),
        (_r, all) => {
          if (all.length === 1) started.worker = startWorker();
        },
      ).done;
      expect(results.map((r) => r.data.jobStatus.status)).toEqual(["pending", "processing", "complete"]);
    } finally {
      client.dispose();
      if (started.worker) await (await started.worker).app.stop();
    }
  });
});

describe("no leaks", () => {
  it("1,000 subscribe/unsubscribe cycles (some before the first event) leave no listeners and no Redis subscriptions", async () => {
    const jobId = await createJob();
    const redis = new Redis(inject("redisUrl"));
    const pattern = `${api.queuePrefix}:events:*`;
    let peak = 0;
    try {
      for (let round = 0; round < 10; round++) {
        const client = wsClient(api, org.apiKey);
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < 100; i++) {
          let first!: () => void;
          const gotFirst = new Promise<void>((resolve) => (first = resolve));
          const sub = collect(
            (sink) =>
              client.subscribe(
                { query: i % 2 ? STATUS : "subscription { jobUpdates { id } }", variables: { id: jobId } },
                sink,
              ),
            () => {
              // jobStatus sends the current state once the server holds the subscription.
              peak = Math.max(peak, api.app.ctx.events.listenerCount());
              first();
            },
          );
          if (i % 3 === 0 || i % 2 === 0) {
            sub.stop(); // gone before the first event (jobUpdates has none to send here)
          } else {
            pending.push(gotFirst.then(() => sub.stop()));
          }
          sub.done.catch(() => {});
        }
        await Promise.all(pending);
        // Every other round, drop the whole connection with subscriptions still open; on the
        // others, once the server has let every subscription go.
        if (round % 2 === 0)
          await until(
            () => api.app.ctx.events.listenerCount(),
            (n) => n === 0,
            { what: "the stopped subscriptions to be released" },
          );
        await client.dispose();
      }
      const left = await until(
        async () => ({
          listeners: api.app.ctx.events.listenerCount(),
          channels: (await redis.pubsub("CHANNELS", pattern)) as string[],
        }),
        ({ listeners, channels }) => listeners === 0 && channels.length === 0,
        { what: "no listeners and no Redis subscriptions left" },
      );
      expect(peak).toBeGreaterThan(0); // the server really held subscriptions during the run
      expect(left).toEqual({ listeners: 0, channels: [] });
    } finally {
      redis.disconnect();
    }
  });
});
