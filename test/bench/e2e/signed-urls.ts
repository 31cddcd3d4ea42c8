// Phase "signed" of e2e.bench.ts: signed render URLs (src/signed-urls/). --signed-n URLs, each a
// distinct render of the reference card (its own title), created with POST /api/v1/signed-urls;
// then fetched without a key, sequentially: the first GET of each renders (accept, queue, worker,
// copy to the content's key, stream), the next --signed-rounds GETs of each serve the stored image
// (signature check, one storage lookup, stream).
import type { JsonClient } from "./http.js";
import { mark, type PhaseContext, type Row } from "./phase.js";
import { quantile, round, summarize, type Summary } from "./stats.js";

type Latency = Summary & { p95_ms: number };
const latency = (xs: number[]): Latency => ({ ...summarize(xs), p95_ms: round(quantile(xs, 0.95), 2) });

export interface SignedUrlsResult {
  urls: number;
  first_hit: Latency;
  cached: Latency;
  /** Render jobs and CHARGE rows the GETs created: one of each per URL. */
  jobs: number;
  charges: number;
}

export async function signedUrlsPhase(
  ctx: PhaseContext,
  client: JsonClient,
  templateId: string,
  o: { n: number; rounds: number },
): Promise<SignedUrlsResult> {
  ctx.note(`signed: ${o.n} signed URLs, first GET each, then ${o.rounds} cached GETs each, sequential`);
  const body = ctx.bodiesFor(templateId);
  const paths: string[] = [];
  for (let i = 0; i < o.n; i++) {
    const request = JSON.parse(body(i)) as { modifications: { name: string; text?: string }[] };
    for (const m of request.modifications) if (m.name === "title") m.text = `Signed card ${i} of ${Date.now()}`;
    const res = await client.request("POST", "/api/v1/signed-urls", JSON.stringify(request));
    if (res.status !== 201) throw new Error(`signed URL ${i}: ${res.status} ${res.body.slice(0, 300)}`);
    // The API answers on its PUBLIC_BASE_URL; the bench reaches it on 127.0.0.1.
    const url = new URL((JSON.parse(res.body) as { url: string }).url);
    paths.push(url.pathname + url.search);
  }
  const jobsBefore = await count(ctx, `SELECT count(*)::int AS n FROM "jobs"`);
  const chargesBefore = await count(ctx, `SELECT count(*)::int AS n FROM "ledger_entries" WHERE "kind" = 'CHARGE'`);
  const get = async (path: string) => {
    const res = await client.request("GET", path, undefined, 60_000);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.slice(0, 300)}`);
    return res.ms;
  };
  const first: number[] = [];
  for (const p of paths) first.push(await get(p));
  const cached: number[] = [];
  for (let r = 0; r < o.rounds; r++) for (const p of paths) cached.push(await get(p));
  return {
    urls: o.n,
    first_hit: latency(first),
    cached: latency(cached),
    jobs: (await count(ctx, `SELECT count(*)::int AS n FROM "jobs"`)) - jobsBefore,
    charges:
      (await count(ctx, `SELECT count(*)::int AS n FROM "ledger_entries" WHERE "kind" = 'CHARGE'`)) - chargesBefore,
  };
}

async function count(ctx: PhaseContext, sql: string): Promise<number> {
  return Number((await ctx.db.query(sql)).rows[0].n);
}

export function signedUrlsRows(r: SignedUrlsResult): Row[] {
  return [
    [
      `signed URL first GET (${r.urls} URLs: render + store)`,
      `median ${r.first_hit.median_ms} ms, p95 ${r.first_hit.p95_ms} ms`,
      "-",
      "    ",
    ],
    [
      `signed URL cached GET (${r.cached.n} GETs)`,
      `median ${r.cached.median_ms} ms, p95 ${r.cached.p95_ms} ms; ${r.jobs} jobs, ${r.charges} charges`,
      "one job and charge per URL",
      mark(r.jobs === r.urls && r.charges === r.urls),
    ],
  ];
}
