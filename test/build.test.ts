// The production build: `npm run build` (run by npm install) compiles src/ and workers/ to dist/,
// and `npm start` runs that JavaScript, not TypeScript. This runs the build as a user's install
// does, then the compiled API and render worker as separate processes (the production shape), and
// renders through them; each role loads only its own code (the API never loads the renderer).
// The same build emits the published `templified/client` and `templified/webhooks` (JavaScript
// and declarations), which a plain `node` program then uses against the compiled API.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createOrganization } from "../src/billing/organizations.js";
import { openDatabase, type Database } from "../src/db/client.js";
import { socialCard } from "./helpers/fixtures.js";
import { cleanQueuePrefix, freePort } from "./helpers/infra.js";
import { ROOT, run, startProcess, type ChildProcess } from "./helpers/run.js";
import { waitForHttp } from "./helpers/wait.js";

const prefix = `test-${randomBytes(4).toString("hex")}`;
const storageDir = path.join(ROOT, "data", `test-renders-${prefix}`);
const secretsKey = randomBytes(32);
let db: Database | undefined;
const processes: ChildProcess[] = [];

afterAll(async () => {
  for (const p of processes) p.child.kill("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  await db?.close();
  await cleanQueuePrefix(inject("redisUrl"), prefix);
  await rm(storageDir, { recursive: true, force: true });
});

/** The shared objects a process has mapped: which native libraries it loaded. */
async function mappedLibraries(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/maps`, "utf8");
}

describe("the compiled build (npm start runs dist/)", () => {
  it("builds, and the compiled API, workers, operator command and published client render a card end to end", async () => {
    const built = await run("npm", ["run", "-s", "build"], {}, 120_000);
    expect(built.code, built.stderr + built.stdout).toBe(0);
    for (const file of ["dist/src/main.js", "dist/workers/render.js", "dist/src/cli/admin.js"])
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
    // The SVG rasteriser's child process and the background-removal engine's thread are plain
    // JavaScript and must travel with the build.
    expect(existsSync(path.join(ROOT, "dist/src/render/svg-child.mjs"))).toBe(true);
    expect(existsSync(path.join(ROOT, "dist/src/render/background-removal/thread.mjs"))).toBe(true);

    const env = {
      DATABASE_URL: inject("databaseUrl"),
      REDIS_URL: inject("redisUrl"),
      QUEUE_PREFIX: prefix,
      STORAGE_DIR: storageDir,
      SECRETS_KEY: secretsKey.toString("base64"),
      ALLOW_PRIVATE_NETWORKS: "true",
      HOST: "127.0.0.1",
    };
    db = await openDatabase({ databaseUrl: inject("databaseUrl"), pgliteDir: "", migrate: false });
    const { org, apiKey } = await createOrganization(
      { prisma: db.prisma, secretsKey },
      { name: "built", balanceCents: 10 },
    );
    const orgId = org.org_id;

    const port = await freePort();
    const api = startProcess(["dist/src/main.js", "api"], { ...env, PORT: String(port) });
    const worker = startProcess(["dist/workers/render.js"], env);
    const deliver = startProcess(["dist/workers/deliver.js"], env);
    processes.push(api, worker, deliver);
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/health`, () => api.output());

    const headers = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };
    const template = await fetch(`${base}/api/v1/templates`, {
      method: "POST",
      headers,
      body: JSON.stringify(socialCard),
    });
    expect(template.status, await template.clone().text()).toBe(201);
    const { template_id } = (await template.json()) as { template_id: string };
    const rendered = await fetch(`${base}/api/v1/create?sync=true`, {
      method: "POST",
      headers,
      body: JSON.stringify({ template_id, modifications: [{ name: "title", text: "Compiled" }] }),
    });
    const body = (await rendered.json()) as { status: string; output_url: string };
    expect(rendered.status, JSON.stringify(body) + worker.output()).toBe(200);
    expect(body.status).toBe("complete");
    const image = await fetch(body.output_url.replace(/^https?:\/\/[^/]+/, base));
    expect(image.status).toBe(200);
    expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(1000);

    // Each role loads only its own code: libvips (sharp) is in the worker and not in the API.
    expect(await mappedLibraries(worker.child.pid!)).toMatch(/libvips/);
    expect(await mappedLibraries(api.child.pid!)).not.toMatch(/libvips/);
    // Background removal's runtime (onnxruntime, and the model) is loaded by a worker's first
    // removal, not before: neither the API nor a worker that rendered an ordinary card has it.
    expect(await mappedLibraries(worker.child.pid!)).not.toMatch(/onnxruntime/);
    expect(await mappedLibraries(api.child.pid!)).not.toMatch(/onnxruntime/);

    // The operator command runs compiled too, and sees the charge.
    const shown = await run("node", ["dist/src/cli/admin.js", "org", "show", orgId], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ org_id: orgId, balance_cents: 9 });

    // The published client, built by the same install: a plain `node` program (no tsx) imports
    // `templified/client` and `templified/webhooks` by package name, renders a card through the
    // compiled API and verifies the signed webhook the compiled deliver worker sent it.
    const smoke = await run(process.execPath, ["test/plain-node/client-smoke.mjs"], {
      TEMPLIFIED_URL: base,
      TEMPLIFIED_KEY: apiKey,
    });
    expect(smoke.code, smoke.stderr + deliver.output()).toBe(0);
    expect(JSON.parse(smoke.stdout)).toEqual({
      status: "complete",
      png: "PNG",
      notFound: true,
      event: "render.completed",
      eventJob: true,
      verified: true,
      tamperedRejected: true,
    });
    // And from CommonJS, through Node's require() of ES modules.
    const cjs = await run(process.execPath, ["test/plain-node/client-require.cjs"]);
    expect(cjs.code, cjs.stderr).toBe(0);
    expect(JSON.parse(cjs.stdout)).toEqual({ client: true, webhooks: true });
    // Their declaration files are there for TypeScript users: an integrator's strict program
    // compiles against them (by package name, with its own tsconfig), and their types are real.
    for (const file of ["dist/src/client/index.d.ts", "dist/src/delivery/signing.d.ts"])
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const consumer = await run(process.execPath, [tsc, "-p", "test/plain-node/tsconfig.json"]);
    expect(consumer.code, consumer.stdout + consumer.stderr).toBe(0);

    // SIGTERM drains all three and they exit 0.
    api.child.kill("SIGTERM");
    worker.child.kill("SIGTERM");
    deliver.child.kill("SIGTERM");
    expect(await api.exited).toBe(0);
    expect(await worker.exited).toBe(0);
    expect(await deliver.exited).toBe(0);
  });
});
