// The queue dashboard (Bull Board at /admin/queues) cannot be reached without the operator
// credential, however the path is spelled: percent-encoding of any character (upper and lower
// hex), double slashes, dot segments (`/./`, `/x/../`, `%2e`), case changes, trailing slashes,
// `;` parameters, query strings, and every method on every route the dashboard registers. Each
// spelling is sent without the credential (and with wrong ones): the answer is 401 or the server's
// 404, never the dashboard or its data. The same spelling is sent again with the credential (as a
// GET, which changes nothing), to count how many spellings really reach the dashboard: the property
// is only worth something if many do, and every spelling that names the route must.
//
// Against the real server (its router options as src/http/server.ts sets them), and against
// servers with every combination of the router options that change which paths match
// (ignoreTrailingSlash, ignoreDuplicateSlashes, caseSensitive, useSemicolonDelimiter): the guard is
// a hook of the dashboard's scope, so it follows whatever the router matches.
//
// Requests go over real sockets (node:http, the path sent byte for byte): `app.inject` parses the
// URL with WHATWG rules first and would resolve the dot segments and some escapes itself.
import http from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_BASE, adminPlugin } from "../src/http/admin.js";
import { useFcSeed } from "./helpers/fc-seed.js";
import { startStack, type Stack } from "./helpers/stack.js";

useFcSeed("admin-guard");

const PASSWORD = "operator-secret-42";
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString("base64")}`;
const GOOD = basic(`admin:${PASSWORD}`);
const BAD_AUTH = [
  undefined,
  basic("admin:nope"),
  basic(`ADMIN:${PASSWORD}`),
  basic(`admin:${PASSWORD} `),
  basic(`admin:${PASSWORD.toUpperCase()}`),
  basic(`admin:${PASSWORD}\u0000`),
  basic(PASSWORD),
  `Bearer ${PASSWORD}`,
  "Basic",
  "Basic !!!",
  `basic ${Buffer.from(`admin:${PASSWORD}x`).toString("base64")}`,
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;

let stack: Stack;

interface Res {
  status: number;
  type: string;
  body: string;
}

function send(port: number, method: string, path: string, authorization?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const withBody = method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
    const headers: Record<string, string> = {
      accept: "text/html,application/json",
      ...(authorization ? { authorization } : {}),
    };
    if (withBody) Object.assign(headers, { "content-type": "application/json", "content-length": "2" });
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"] ?? ""),
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(withBody ? "{}" : undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// Spellings of a path

type Op =
  | { op: "encode"; at: number; upper: boolean; plainOnly?: boolean }
  | { op: "case"; at: number; mode: "upper" | "lower" | "flip" }
  | { op: "insert"; at: number; text: string }
  | { op: "param"; at: number; text: string };

const pctOf = (ch: string, upper: boolean) =>
  [...Buffer.from(ch, "utf8")]
    .map((b) => `%${upper ? b.toString(16).toUpperCase().padStart(2, "0") : b.toString(16).padStart(2, "0")}`)
    .join("");

/** Applies the edits in order; positions are taken modulo what there is. The leading "/" stays. */
function respell(path: string, ops: Op[], trailing: string, query: string): string {
  let p = path;
  for (const o of ops) {
    if (o.op === "encode") {
      // Any character after the leading "/"; an escape already there counts as one character,
      // whose "%" is encoded in turn (double encoding: "%61" -> "%2561"), so the result stays a
      // well-formed URL.
      // plainOnly: only characters the router decodes back (not "/", not an escape), so the
      // spelling still names the same route.
      const units = [...p.matchAll(/%[0-9A-Fa-f]{2}|[^]/g)]
        .filter((m) => m.index > 0 && !(o.plainOnly && (m[0].length > 1 || m[0] === "/")))
        .map((m) => m.index);
      if (units.length === 0) continue;
      const i = units[o.at % units.length]!;
      p = p.slice(0, i) + pctOf(p[i]!, o.upper) + p.slice(i + 1);
    } else if (o.op === "case") {
      const segments = p.split("/");
      const i = 1 + (o.at % Math.max(1, segments.length - 1));
      const s = segments[i] ?? "";
      segments[i] =
        o.mode === "upper"
          ? s.toUpperCase()
          : o.mode === "lower"
            ? s.toLowerCase()
            : [...s].map((c, k) => (k % 2 ? c.toUpperCase() : c.toLowerCase())).join("");
      p = segments.join("/");
    } else {
      const slashes = [...p].flatMap((c, i) => (c === "/" ? [i] : []));
      if (o.op === "insert") {
        // After a slash: "/" + "./" -> "/./", "x/../" -> "/x/../", "/" -> "//".
        const at = slashes[o.at % slashes.length]! + 1;
        p = p.slice(0, at) + o.text + p.slice(at);
      } else {
        // At the end of a segment (before a later slash, or at the end): ";x=1".
        const ends = [...slashes.slice(1), p.length];
        const at = ends[o.at % ends.length]!;
        p = p.slice(0, at) + o.text + p.slice(at);
      }
    }
  }
  return p + trailing + query;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant("encode" as const), at: fc.nat(), upper: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("case" as const),
      at: fc.nat(),
      mode: fc.constantFrom("upper" as const, "lower" as const, "flip" as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at: fc.nat(),
      text: fc.constantFrom(
        "/",
        "//",
        "./",
        "../",
        "x/../",
        "admin/../",
        "queues/../",
        "%2e/",
        "%2E%2E/",
        "x/%2e%2e/",
        ".%2e/",
        "%2F",
        "\\",
        "x/..%2F",
        "~/../",
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("param" as const),
      at: fc.nat(),
      text: fc.constantFrom(";", ";x", ";jsessionid=1", ";a=b;c", "%3B", ";/"),
    }),
  },
);
/** Spellings the router maps to the same route (escapes of plain characters, a query string). */
const sameRouteArb = fc.tuple(
  fc.array(
    fc.record({ op: fc.constant("encode" as const), at: fc.nat(), upper: fc.boolean(), plainOnly: fc.constant(true) }),
    { minLength: 1, maxLength: 6 },
  ),
  fc.constantFrom("", "?x=1", "?a=%2F&b", "?/admin/queues", "?%zz", "#frag"),
);
const trailingArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  { weight: 2, arbitrary: fc.constantFrom("/", "//", "/.", "/./", "/;", ";", ";x=1", "%2F", "%20", ".", "/..") },
);
const queryArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("?", "?x=1", "?a=%2F&b", "?/admin/queues", "#frag", "?;", "?%", "?%zz") },
);

interface Target {
  /** Concrete path, params filled in. */
  path: string;
  methods: string[];
  /** The static files' wildcard route: @fastify/static finds the file from the raw URL, so an escaped spelling is its 404. */
  wildcard: boolean;
}

/** Every route the dashboard registered, from the server's route table, params filled in. */
function dashboardTargets(table: { method: string | string[]; url: string }[], queueName: string): Target[] {
  const byUrl = new Map<string, Set<string>>();
  for (const r of table) {
    if (!r.url.startsWith(ADMIN_BASE)) continue;
    const set = byUrl.get(r.url) ?? new Set<string>();
    for (const m of [r.method].flat()) set.add(m);
    byUrl.set(r.url, set);
  }
  return [...byUrl].map(([url, methods]) => ({
    path: url
      .replace(/:queueName\b/g, queueName)
      .replace(/:jobId\b/g, "1")
      .replace(/:[A-Za-z]+/g, "x")
      .replace(/\*$/, "favicon.ico"),
    methods: [...methods],
    wildcard: url.endsWith("*"),
  }));
}

// ---------------------------------------------------------------------------------------------
// The judgement

const NOT_FOUND = /^No route for /;

/** Without the credential: 401 with our error, or the server's own 404; never anything of the dashboard. */
function expectRefused(method: string, path: string, res: Res): void {
  const where = `${method} ${path} -> ${res.status} ${res.type} ${res.body.slice(0, 200)}`;
  expect([401, 404], where).toContain(res.status);
  if (method === "HEAD") return expect(res.body, where).toBe("");
  expect(res.type, where).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(Object.keys(body), where).toEqual(["error"]);
  if (res.status === 401) expect(body.error, where).toBe("Operator credentials required");
  else expect(String(body.error), where).toMatch(NOT_FOUND);
}

/** Did the request reach the dashboard's code (with the credential)? Its own 404s ("Job not found") count. */
function reached(res: Res): boolean {
  if (res.status === 401) return false;
  if (res.status !== 404) return true;
  try {
    return !NOT_FOUND.test(String((JSON.parse(res.body) as { error?: unknown }).error));
  } catch {
    return true;
  }
}

interface Stats {
  tried: number;
  /** Spellings of a GET route sent again with the credential ... */
  probed: number;
  /** ... that reached the dashboard. */
  reached: number;
  /** The same for spellings that name the route (escapes of plain characters, queries): all must reach. */
  sameRouteProbed: number;
  sameRouteReached: number;
}

async function checkServer(port: number, targets: Target[], numRuns: number): Promise<Stats> {
  const stats: Stats = { tried: 0, probed: 0, reached: 0, sameRouteProbed: 0, sameRouteReached: 0 };
  const targetArb = fc.constantFrom(...targets);
  const spelling = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.array(opArb, { maxLength: 4 }), trailingArb, queryArb, fc.constant(false)) },
    { weight: 1, arbitrary: sameRouteArb.map(([ops, query]) => [ops, "", query, true] as const) },
  );
  await fc.assert(
    fc.asyncProperty(
      targetArb.chain((t) =>
        fc.tuple(
          fc.constant(t),
          fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(...t.methods) },
            { weight: 2, arbitrary: fc.constantFrom(...METHODS) },
          ),
          spelling,
          fc.constantFrom(...BAD_AUTH),
        ),
      ),
      async ([t, method, [ops, trailing, query, sameRoute], auth]) => {
        const path = respell(t.path, ops, trailing, query);
        stats.tried++;
        expectRefused(method, path, await send(port, method, path, auth));
        // The same spelling with the credential, as a GET (nothing that changes the queues), where
        // the route has a GET: does this spelling reach the dashboard at all?
        if (t.methods.includes("GET")) {
          const ok = reached(await send(port, "GET", path, GOOD));
          stats.probed++;
          if (ok) stats.reached++;
          if (sameRoute && !t.wildcard) {
            stats.sameRouteProbed++;
            if (ok) stats.sameRouteReached++;
          }
        }
      },
    ),
    { numRuns },
  );
  return stats;
}

// ---------------------------------------------------------------------------------------------

let targets: Target[];
let port: number;

beforeAll(async () => {
  stack = await startStack({ ADMIN_PASSWORD: PASSWORD, RATE_LIMIT_MAX: "0" }, { api: true, worker: false });
  port = Number(new URL(stack.baseUrl).port);
  const table = (stack.app.server as unknown as { routeTable: { method: string | string[]; url: string }[] })
    .routeTable;
  targets = dashboardTargets(table, stack.app.ctx.renderQueue.queue.name);
});
afterAll(() => stack?.stop());

describe("queue dashboard guard", () => {
  it("the dashboard registers pages and API routes that change the queues (what the property aims at)", () => {
    const paths = targets.map((t) => t.path);
    expect(paths).toContain(ADMIN_BASE);
    expect(paths).toContain(`${ADMIN_BASE}/api/queues`);
    expect(paths.some((p) => p.endsWith("/pause"))).toBe(true);
    expect(targets.flatMap((t) => t.methods)).toEqual(expect.arrayContaining(["GET", "HEAD", "PUT"]));
  });

  it("with the credential it works: the page (HTML) and the API (JSON)", async () => {
    const page = await send(port, "GET", ADMIN_BASE, GOOD);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<html/i);
    const api = await send(port, "GET", `${ADMIN_BASE}/api/queues`, GOOD);
    expect(api.status).toBe(200);
    expect(api.type).toMatch(/^application\/json/);
    expect(JSON.parse(api.body).queues.map((q: { name: string }) => q.name)).toContain(
      stack.app.ctx.renderQueue.queue.name,
    );
  });

  it("spellings the router decodes to the dashboard: 200 with the credential, 401 without (the bypass this guards against)", async () => {
    const q = stack.app.ctx.renderQueue.queue.name;
    for (const path of [
      "/admin/%71ueues/api/queues",
      "/%61dmin/queues/api/queues",
      "/admin/queue%73/api/queues",
      "/admin/queues/%61pi/queues",
      "/%61%64%6D%69%6E/%71%75%65%75%65%73",
      "/admin/%71ueues?x=/admin/queues",
    ]) {
      const ok = await send(port, "GET", path, GOOD);
      expect(ok.status, `${path} with the credential`).toBe(200);
      expectRefused("GET", path, await send(port, "GET", path));
    }
    // A state-changing route under an encoded spelling: refused, and the queue is not paused.
    for (const method of ["PUT", "POST"]) {
      expectRefused(
        method,
        `/admin/%71ueues/api/queues/${q}/pause`,
        await send(port, method, `/admin/%71ueues/api/queues/${q}/pause`),
      );
    }
    expect(await stack.app.ctx.renderQueue.queue.isPaused()).toBe(false);
  });

  it("property: every generated spelling, method and wrong credential on the real server is refused (401/404)", async () => {
    const stats = await checkServer(port, targets, 400);
    console.log(`real server: ${JSON.stringify(stats)}`);
    // The generator is worth something only if its spellings do reach the dashboard: those that
    // name the route all do (with the credential), and others too.
    expect(stats.sameRouteProbed, JSON.stringify(stats)).toBeGreaterThan(20);
    expect(stats.sameRouteReached, JSON.stringify(stats)).toBe(stats.sameRouteProbed);
    expect(stats.reached, JSON.stringify(stats)).toBeGreaterThan(stats.sameRouteReached);
    expect(await stack.app.ctx.renderQueue.queue.isPaused()).toBe(false);
  }, 120_000);

  it("the real server's router options are the ones the matrix below starts from", () => {
    const config = (stack.app.server as unknown as FastifyInstance).initialConfig as Record<string, unknown> & {
      routerOptions?: Record<string, unknown>;
    };
    const opt = (name: string) => config.routerOptions?.[name] ?? config[name];
    expect({
      ignoreTrailingSlash: opt("ignoreTrailingSlash") ?? false,
      ignoreDuplicateSlashes: opt("ignoreDuplicateSlashes") ?? false,
      caseSensitive: opt("caseSensitive") ?? true,
      useSemicolonDelimiter: opt("useSemicolonDelimiter") ?? false,
    }).toEqual({
      ignoreTrailingSlash: false,
      ignoreDuplicateSlashes: false,
      caseSensitive: true,
      useSemicolonDelimiter: false,
    });
  });

  describe("under every combination of router options", () => {
    const combos = [false, true].flatMap((ignoreTrailingSlash) =>
      [false, true].flatMap((ignoreDuplicateSlashes) =>
        [true, false].flatMap((caseSensitive) =>
          [false, true].map((useSemicolonDelimiter) => ({
            ignoreTrailingSlash,
            ignoreDuplicateSlashes,
            caseSensitive,
            useSemicolonDelimiter,
          })),
        ),
      ),
    );
    it.each(combos)(
      "%o",
      async (routerOptions) => {
        const app = Fastify({ routerOptions });
        app.setNotFoundHandler((request, reply) =>
          reply.status(404).send({ error: `No route for ${request.method} ${request.url.split("?")[0]}` }),
        );
        await app.register(adminPlugin(stack.app.ctx));
        await app.listen({ port: 0, host: "127.0.0.1" });
        try {
          const p = (app.server.address() as AddressInfo).port;
          expect((await send(p, "GET", `${ADMIN_BASE}/api/queues`, GOOD)).status).toBe(200);
          // The spellings each option makes match: with it, the dashboard with the credential and 401
          // without; without it, the server's 404 either way.
          for (const [path, matches] of [
            [`${ADMIN_BASE}/api/queues/`, routerOptions.ignoreTrailingSlash],
            [`/admin//queues/api/queues`, routerOptions.ignoreDuplicateSlashes],
            [`/ADMIN/Queues/API/queues`, !routerOptions.caseSensitive],
            [`${ADMIN_BASE}/api/queues;jsessionid=1`, routerOptions.useSemicolonDelimiter],
            [
              `/%41DMIN//queues/api/Queues/;x=1`,
              routerOptions.ignoreDuplicateSlashes &&
                !routerOptions.caseSensitive &&
                routerOptions.ignoreTrailingSlash &&
                routerOptions.useSemicolonDelimiter,
            ],
          ] as const) {
            const withKey = await send(p, "GET", path, GOOD);
            expect(withKey.status, `${path} with the credential`).toBe(matches ? 200 : 404);
            const without = await send(p, "GET", path);
            expectRefused("GET", path, without);
            expect(without.status, `${path} without`).toBe(matches ? 401 : 404);
            expectRefused(
              "PUT",
              path,
              await send(
                p,
                "PUT",
                `${path.replace(/\/api\/queues.*$/i, "")}/api/queues/${stack.app.ctx.renderQueue.queue.name}/pause`,
              ),
            );
          }
          const stats = await checkServer(p, targets, 60);
          expect(stats.sameRouteReached, JSON.stringify(stats)).toBe(stats.sameRouteProbed);
          expect(stats.reached, JSON.stringify(stats)).toBeGreaterThan(0);
        } finally {
          await app.close();
        }
        expect(await stack.app.ctx.renderQueue.queue.isPaused()).toBe(false);
      },
      60_000,
    );
  });
});
