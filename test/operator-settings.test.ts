// Settings and edges around the API that operators rely on: /metrics behind METRICS_TOKEN (or open
// when it is unset), GraphiQL served with its assets from this process (no CDN) or turned off with
// GRAPHIQL=false, HEAD /graphql answered 405, and pagination arguments (GraphQL first/last/after/
// before, REST limit) refused as the caller's error naming the argument, never an unexpected error.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config.js";
import { useFcSeed } from "./helpers/fc-seed.js";
import { startStack, type Stack } from "./helpers/stack.js";

useFcSeed("operator-settings");

const TOKEN = "scrape-token-0123456789abcdef";

let open: Stack; // defaults: /metrics open, GraphiQL on
let locked: Stack; // METRICS_TOKEN set, GRAPHIQL=false
let org: { orgId: string; apiKey: string };

beforeAll(async () => {
  [open, locked] = await Promise.all([
    startStack({ RATE_LIMIT_MAX: "0" }, { api: true, worker: false }),
    startStack({ RATE_LIMIT_MAX: "0", METRICS_TOKEN: TOKEN, GRAPHIQL: "false" }, { api: true, worker: false }),
  ]);
  org = await open.createOrg(100);
});
afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop()]);
});

describe("configuration", () => {
  const base = { DATABASE_URL: "postgresql://x@127.0.0.1/x" };
  it("METRICS_TOKEN is optional; when set it must be at least 16 printable characters", () => {
    expect(parseConfig(base).METRICS_TOKEN).toBeUndefined();
    expect(parseConfig({ ...base, METRICS_TOKEN: TOKEN }).METRICS_TOKEN).toBe(TOKEN);
    expect(() => parseConfig({ ...base, METRICS_TOKEN: "short" })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, METRICS_TOKEN: "has a space in it, sadly" })).toThrow(/METRICS_TOKEN/);
  });
  it("GRAPHIQL defaults to true and takes the usual booleans", () => {
    expect(parseConfig(base).GRAPHIQL).toBe(true);
    expect(parseConfig({ ...base, GRAPHIQL: "false" }).GRAPHIQL).toBe(false);
    expect(parseConfig({ ...base, GRAPHIQL: "0" }).GRAPHIQL).toBe(false);
    expect(() => parseConfig({ ...base, GRAPHIQL: "off" })).toThrow(/GRAPHIQL/);
  });
});

describe("/metrics", () => {
  it("without METRICS_TOKEN: open, as before, with the status code on the request metrics", async () => {
    await open.api(org.apiKey, "GET", "/api/v1/billing");
    // Routes are labelled by their template, never the raw URL: a job id or an unknown path adds
    // no series of its own (bounded cardinality).
    await open.api(org.apiKey, "GET", "/api/v1/create/clx_not_a_job_0123456789");
    await open.api(org.apiKey, "GET", "/no/such/path/0123456789");
    const res = await fetch(`${open.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /templified_http_requests_total\{method="GET",route="\/api\/v1\/billing",status="200"\} [1-9]/,
    );
    expect(text).toMatch(
      /templified_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/billing",status="200"\} [1-9]/,
    );
    expect(text).toMatch(
      /templified_http_requests_total\{method="GET",route="\/api\/v1\/create\/:job_id",status="404"\} [1-9]/,
    );
    expect(text).toMatch(/templified_http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]/);
    expect(text).not.toContain("0123456789");
  });

  it("with METRICS_TOKEN: 401 JSON without the token or with a wrong one, 200 with it", async () => {
    for (const authorization of [
      undefined,
      "Bearer nope",
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${TOKEN}`,
      TOKEN,
      "Bearer",
      `Bearer ${TOKEN} extra`,
    ]) {
      const res = await fetch(`${locked.baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await res.json()).error).toMatch(/METRICS_TOKEN/);
    }
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer  ${TOKEN} `]) {
      const res = await fetch(`${locked.baseUrl}/metrics`, { headers: { authorization } });
      expect(res.status, authorization).toBe(200);
      expect(await res.text()).toMatch(/templified_http_requests_total/);
    }
  });

  it("with METRICS_TOKEN: spellings of the path that the router decodes to /metrics are guarded too", async () => {
    for (const path of ["/%6detrics", "/metric%73", "/%6D%65%74%72%69%63%73?x=1"]) {
      expect(
        (await fetch(`${locked.baseUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
        path,
      ).toBe(200);
      expect((await fetch(`${locked.baseUrl}${path}`)).status, path).toBe(401);
    }
    expect((await fetch(`${locked.baseUrl}/metrics`, { method: "HEAD" })).status).toBe(401);
  });
});

describe("GraphiQL", () => {
  it("is served with its scripts and styles inlined: the page references no external script or stylesheet", async () => {
    const res = await fetch(`${open.baseUrl}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/YogaGraphiQL\.renderYogaGraphiQL/);
    expect(html).toContain("<title>Templified GraphQL</title>");
    // Every src/href of a script, link, img or iframe tag is local (inline, data:, blob: or relative).
    const refs = [...html.matchAll(/<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)].map(
      (m) => m[1]!,
    );
    expect(refs.filter((u) => /^(?:https?:)?\/\//i.test(u))).toEqual([]);
    expect(html).not.toMatch(/@import\s+(?:url\()?["']?(?:https?:)?\/\//i);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs/i);
  });

  it("GRAPHIQL=false: a browser's GET /graphql gets no GraphiQL page; GraphQL itself still works", async () => {
    const res = await fetch(`${locked.baseUrl}/graphql`, { headers: { accept: "text/html" } });
    expect(res.headers.get("content-type") ?? "").not.toMatch(/text\/html/);
    const body = await res.text();
    expect(body).not.toMatch(/<html|GraphiQL/i);
    const ok = await locked.api(null, "POST", "/graphql", { query: "{ __typename }" });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ __typename: "Query" });
  });
});

describe("HEAD /graphql", () => {
  it("is 405 Method Not Allowed with an Allow header and no body (it was a 500)", async () => {
    for (const stack of [open, locked]) {
      for (const headers of [{}, { accept: "text/html" }, { authorization: `Bearer ${org.apiKey}` }] as Record<
        string,
        string
      >[]) {
        const res = await fetch(`${stack.baseUrl}/graphql?query=%7B__typename%7D`, { method: "HEAD", headers });
        expect(res.status).toBe(405);
        expect(res.headers.get("allow")).toBe("GET, POST, OPTIONS");
        expect(await res.text()).toBe("");
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

const CONNECTIONS = [
  { name: "jobs", query: (args: string) => `jobs(${args}) { edges { cursor } }` },
  { name: "templates", query: (args: string) => `templates(${args}) { edges { cursor } }` },
  { name: "ledger", query: (args: string) => `viewer { organization { ledger(${args}) { edges { cursor } } } }` },
];

const gql = (query: string, variables: Record<string, unknown> = {}) =>
  open.api(org.apiKey, "POST", "/graphql", { query, variables });

/** A connection's `first` as a variable named $first: in range -> data; else an error naming it. */
async function expectFirst(connection: (typeof CONNECTIONS)[number], value: unknown): Promise<void> {
  const res = await gql(`query($first: Int) { ${connection.query("first: $first")} }`, { first: value });
  const where = `${connection.name}(first: ${JSON.stringify(value)}) -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(JSON.stringify(res.body), where).not.toMatch(/INTERNAL_SERVER_ERROR|Unexpected error/);
  if (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 100) {
    expect(res.body.errors, where).toBeUndefined();
    return;
  }
  const [error] = res.body.errors as { message: string; extensions?: { code?: string; argumentName?: string } }[];
  expect(error, where).toBeDefined();
  if (Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) <= 2 ** 31 - 1) {
    // A valid Int out of range: our check, naming the argument.
    expect(error!.extensions, where).toEqual({ code: "BAD_USER_INPUT", argumentName: "first" });
    expect(error!.message, where).toMatch(/"first".*1 to 100/);
  } else {
    // Not an Int at all: GraphQL's own coercion refuses the variable (400), naming it.
    expect(res.status, where).toBe(400);
    expect(error!.message, where).toMatch(/^Variable "\$first" got invalid value/);
  }
}

describe("pagination arguments (GraphQL)", () => {
  it("first: -1, 0, 101, huge and the 32-bit extremes are BAD_USER_INPUT naming `first`; 1 and 100 work", async () => {
    for (const c of CONNECTIONS) {
      for (const v of [-1, 0, 101, 1000, 2 ** 31 - 1, -(2 ** 31), 1, 100]) await expectFirst(c, v);
    }
  });

  it('non-integers and non-Ints (1.5, "5", true, 2^31, lists, objects) are refused by GraphQL\'s Int, naming the variable', async () => {
    for (const c of CONNECTIONS) {
      for (const v of [1.5, -0.5, 2 ** 31, -(2 ** 31) - 1, 1e300, "5", "", true, [1], { n: 1 }])
        await expectFirst(c, v);
    }
  });

  it("property: any value of `first`, on every connection", async () => {
    const value = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.integer({ min: -5, max: 105 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ maxLength: 5 }),
      fc.boolean(),
      fc.constant(null),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CONNECTIONS), value, async (c, v) => {
        if (v === null) {
          const res = await gql(`query($first: Int) { ${c.query("first: $first")} }`, { first: null });
          expect(res.body.errors).toBeUndefined();
        } else await expectFirst(c, v);
      }),
      { numRuns: 120 },
    );
  }, 60_000);

  it("literals: out-of-range first is BAD_USER_INPUT naming it; a non-integer is a GraphQL validation error at the argument", async () => {
    for (const c of CONNECTIONS) {
      for (const literal of ["-1", "0", "101"]) {
        const res = await gql(`{ ${c.query(`first: ${literal}`)} }`);
        expect(res.body.errors[0].extensions, `${c.name} ${literal}`).toEqual({
          code: "BAD_USER_INPUT",
          argumentName: "first",
        });
      }
      for (const literal of ["1.5", '"5"', "true"]) {
        const res = await gql(`{ ${c.query(`first: ${literal}`)} }`);
        expect(res.body.errors[0].extensions?.code, `${c.name} ${literal}`).toBe("GRAPHQL_VALIDATION_FAILED");
        expect(res.body.errors[0].message).toMatch(/Int cannot represent/);
      }
    }
  });

  it("last and before (backward pagination is not offered) and a cursor not from this API are BAD_USER_INPUT naming the argument", async () => {
    for (const c of CONNECTIONS) {
      for (const [args, name] of [
        ["last: 5", "last"],
        ["last: -1", "last"],
        ['before: "x"', "before"],
        ['after: "not-a-cursor"', "after"],
        [`after: "${"A".repeat(300)}"`, "after"],
        [`after: "${Buffer.from("yesterday|x").toString("base64url")}"`, "after"],
      ] as const) {
        const res = await gql(`{ ${c.query(args)} }`);
        const where = `${c.name}(${args.slice(0, 40)}) -> ${JSON.stringify(res.body).slice(0, 300)}`;
        expect(res.status, where).toBe(200);
        expect(res.body.errors?.[0]?.extensions, where).toEqual({ code: "BAD_USER_INPUT", argumentName: name });
        expect(res.body.errors[0].message, where).toContain(`"${name}"`);
      }
    }
  });

  it("a cursor from this API still pages on", async () => {
    for (let i = 0; i < 3; i++)
      await open.api(org.apiKey, "POST", "/api/v1/templates", { name: `t${i}`, width: 10, height: 10 });
    const first = await gql(`{ templates(first: 2) { edges { cursor } pageInfo { hasNextPage endCursor } } }`);
    expect(first.body.data.templates.pageInfo.hasNextPage).toBe(true);
    const next = await gql(`query($a: String) { templates(first: 2, after: $a) { edges { cursor } } }`, {
      a: first.body.data.templates.pageInfo.endCursor,
    });
    expect(next.body.errors).toBeUndefined();
    expect(next.body.data.templates.edges.length).toBeGreaterThan(0);
  });
});

describe("pagination arguments (REST `limit`)", () => {
  it("negative, zero, over 100, non-integer, non-numeric and empty limits are 400 JSON naming `limit`", async () => {
    for (const route of ["/api/v1/templates", "/api/v1/billing/ledger", "/api/v1/design-groups"]) {
      for (const limit of ["-1", "0", "101", "99999999999999999999", "1.5", "1e400", "abc", "", "NaN", "Infinity"]) {
        const res = await open.api(org.apiKey, "GET", `${route}?limit=${encodeURIComponent(limit)}`);
        expect(res.status, `${route} limit=${limit}`).toBe(400);
        expect(res.body.error, `${route} limit=${limit}`).toMatch(/limit/);
        expect(res.body.details[0].path).toBe("limit");
      }
      for (const limit of ["1", "100"])
        expect((await open.api(org.apiKey, "GET", `${route}?limit=${limit}`)).status).toBe(200);
    }
  });
});
