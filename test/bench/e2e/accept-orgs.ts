// Phase "accept-orgs" of e2e.bench.ts: accepts/s when the load is spread over organisations. The
// same closed loop as the "accept" phase (--clients clients, --accept-seconds, at most
// --accept-max requests, the render queue paused the same way and drained afterwards), but each
// client is an organisation of its own with its own API key and keep-alive connection. The
// one-organisation figure is bounded by what one organisation's accepts share (its balance row,
// its admission lock, its group commit); this one is the API's accept path as many customers use
// it, where nothing is shared but the processes, so both are reported.
import type { Queue } from "bullmq";
import { perOp, used } from "./cpu.js";
import { closedLoop, JsonClient } from "./http.js";
import { saveTemplate } from "./organisations.js";
import { mark, type PhaseContext, type Row } from "./phase.js";
import { round, summarize, type Summary } from "./stats.js";

/** Accepts per organisation before the window: its key and its template are read once, as the
 * one-organisation phase's 20 warm-up accepts do for its single organisation. */
const WARMUP_PER_ORG = 2;

export interface AcceptOrgsResult {
  organisations: number;
  concurrent: Summary;
  accepts_per_s: number;
  errors: number;
  elapsed_s: number;
  cpu_ms_per_accept: Record<string, number>;
  render_queue: string;
  drain_s: number;
  drain_renders_per_s: number;
  window_monotonic_us: [number, number];
}

export async function acceptOrgsPhase(
  ctx: PhaseContext,
  queue: Queue,
  o: { seconds: number; max: number; live: boolean },
): Promise<AcceptOrgsResult> {
  const n = ctx.clients;
  const orgs = await ctx.newOrganisations(Array.from({ length: n }, (_, i) => `e2e accept org ${i + 1}`));
  const clients = orgs.map((org) => new JsonClient(ctx.base, { authorization: `Bearer ${org.apiKey}` }, 1));
  ctx.onCleanup("accept-orgs http agents", () => clients.forEach((c) => c.close()));
  const bodies = await Promise.all(clients.map(async (c) => ctx.bodiesFor(await saveTemplate(c, ctx.card))));

  if (!o.live) await queue.pause();
  ctx.note(
    `accept-orgs: ${WARMUP_PER_ORG} warm-up each, then ${n} clients of ${n} organisations for ${o.seconds} s (max ${o.max}); render queue ${o.live ? "running" : "paused"}`,
  );
  await Promise.all(
    clients.map(async (c, k) => {
      for (let j = 0; j < WARMUP_PER_ORG; j++) {
        const res = await c.request("POST", "/api/v1/create", bodies[k]!(j));
        if (res.status !== 202) throw new Error(`accept-orgs warm-up: ${res.status} ${res.body.slice(0, 300)}`);
      }
    }),
  );
  const windowStart = process.hrtime.bigint() / 1000n;
  const cpuBefore = ctx.cpu();
  const r = await closedLoop(clients, {
    clients: n,
    durationMs: o.seconds * 1000,
    maxRequests: o.max,
    expectStatus: 202,
    request: (i, loop) => ({ method: "POST", path: "/api/v1/create", body: bodies[loop]!(i) }),
  });
  const cpu = used(cpuBefore, ctx.cpu());
  const windowEnd = process.hrtime.bigint() / 1000n;
  if (!o.live) await queue.resume();
  if (r.errors) ctx.note(`accept-orgs: ${r.errors} unexpected answers, e.g. ${r.errorSamples.join(" | ")}`);
  const accepted = r.latencies.length;
  const queued = accepted + n * WARMUP_PER_ORG;
  ctx.note(`accept-orgs: ${queued} accepted; draining the queue`);
  const drainS = await ctx.drain("after accept-orgs", 120_000);
  return {
    organisations: n,
    concurrent: summarize(r.latencies),
    accepts_per_s: round(accepted / (r.elapsedMs / 1000), 1),
    errors: r.errors,
    elapsed_s: round(r.elapsedMs / 1000, 2),
    cpu_ms_per_accept: perOp(cpu, accepted),
    render_queue: o.live ? "running" : "paused during the window, then drained",
    drain_s: round(drainS, 1),
    drain_renders_per_s: round(queued / drainS, 1),
    window_monotonic_us: [Number(windowStart), Number(windowEnd)],
  };
}

export function acceptOrgsRows(a: AcceptOrgsResult, target: { accepts_per_s: number; median_ms: number }): Row[] {
  const cpu = Object.entries(a.cpu_ms_per_accept)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return [
    [
      `accept latency, ${a.organisations} clients / ${a.organisations} orgs`,
      `median ${a.concurrent.median_ms} ms, p99 ${a.concurrent.p99_ms} ms`,
      `median <= ${target.median_ms} ms`,
      mark(a.concurrent.median_ms <= target.median_ms),
    ],
    [
      `accept throughput, ${a.organisations} clients / ${a.organisations} orgs`,
      `${a.accepts_per_s} accepts/s (${a.concurrent.n} in ${a.elapsed_s} s, ${a.errors} errors)`,
      `>= ${target.accepts_per_s}/s`,
      mark(a.accepts_per_s >= target.accepts_per_s),
    ],
    ["  CPU ms per accept", cpu, "", ""],
    [
      "  render queue during accept",
      `${a.render_queue}: drained in ${a.drain_s} s (${a.drain_renders_per_s} renders/s)`,
      "",
      "",
    ],
  ];
}
