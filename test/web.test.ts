// The Studio page end to end, in headless Chromium against the real stack: connect with a key,
// add the starter templates, edit the social card's title and photo in the editor, save and
// render, watch pending -> processing -> complete arrive live, see the image and the job in the
// recent list. (test/studio-editor.test.ts drives the editor's canvas, undo and versions.) Plus the static serving
// (content types, caching, no catch-all) and the page shown when the build is missing.
//
// Needs Chromium at /usr/bin/chromium (Debian: apt-get install -y chromium; CHROMIUM_PATH sets another
// path); the browser tests are skipped, saying so, without it.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import Fastify from "fastify";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEB_DIST_DIR, webPlugin } from "../src/web/serve.js";
import { startImageHost, type ImageHost } from "./helpers/image-host.js";
import { startStack, type Stack } from "./helpers/stack.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const root = new URL("..", import.meta.url);

/** A fresh build, so the test never runs against a stale dist. About a second. */
async function buildPage() {
  await promisify(execFile)(
    process.execPath,
    ["node_modules/vite/bin/vite.js", "build", "--config", "src/web/vite.config.ts", "--logLevel", "error"],
    {
      cwd: root,
    },
  );
}

let stack: Stack;
let built: Promise<void>;

beforeAll(async () => {
  built = buildPage();
  stack = await startStack();
  await built;
});
afterAll(() => stack?.stop());

describe("serving the built page", () => {
  it("answers / with the page (not cached) and /assets/* with hashed, immutable files", async () => {
    const page = await fetch(`${stack.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain("<title>Templified Studio</title>");

    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    for (const asset of assets) {
      const res = await fetch(stack.baseUrl + asset);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get("content-type")).toBe(
        asset.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
      );
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(await res.text()).toBe(await readFile(new URL(`.${asset}`, `file://${WEB_DIST_DIR}/`), "utf8"));
    }
  });

  it("leaves everything else to the API", async () => {
    expect((await fetch(`${stack.baseUrl}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/assets/..%2Findex.html`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/assets/x/y.js`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/health`)).status).toBe(200);
    expect((await stack.api(null, "GET", "/api/v1/templates")).status).toBe(401);
    expect((await stack.api(null, "GET", "/nowhere")).body).toEqual({ error: "No route for GET /nowhere" });
    const gql = await stack.api(null, "POST", "/graphql", { query: "{ __typename }" });
    expect(gql.body).toEqual({ data: { __typename: "Query" } });
  });

  it("says how to build the page when the build is missing", async () => {
    const app = Fastify();
    await app.register(webPlugin("/nonexistent/templified-web-dist"));
    const res = await app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(503);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.body).toContain("npm run build:web");
    expect((await app.inject({ method: "GET", url: "/assets/index.js" })).statusCode).toBe(404);
    await app.close();
  });
});

const studio = hasChromium ? describe : describe.skip;
if (!hasChromium)
  console.warn(
    `test/web.test.ts: no Chromium at ${CHROMIUM}: the Studio browser tests are SKIPPED (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );

studio(
  hasChromium
    ? "Studio in headless Chromium"
    : `Studio in headless Chromium: SKIPPED, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`,
  () => {
    let browser: Browser;
    // The photo comes from a host that holds it until the page shows `processing`, so that status
    // is seen however fast the worker is (the worker fetches it: private addresses are allowed here).
    let images: ImageHost;
    let photoUrl: string;

    beforeAll(async () => {
      const photo = await readFile(new URL("fixtures/photo.jpg", import.meta.url));
      images = await startImageHost(photo, { contentType: "image/jpeg" });
      photoUrl = `${images.url}/photo.jpg`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await images?.close();
    });

    /** A page on the Studio, connected with the key, that records script and console errors and GraphQL-over-WebSocket frames. */
    async function openStudio(
      apiKey: string,
    ): Promise<{ page: Page; errors: string[]; frames: { sent: boolean; message: any }[] }> {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      const errors: string[] = [];
      const frames: { sent: boolean; message: any }[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on(
        "console",
        (m) => void (m.type() === "error" && errors.push(`console: ${m.text()} (${m.location().url})`)),
      );
      page.on("websocket", (ws) => {
        ws.on("framesent", (f) => frames.push({ sent: true, message: JSON.parse(String(f.payload)) }));
        ws.on("framereceived", (f) => frames.push({ sent: false, message: JSON.parse(String(f.payload)) }));
      });
      const res = await page.goto(`${stack.baseUrl}/`);
      expect(res?.status()).toBe(200);
      await page.fill("#api-key", apiKey);
      await page.getByRole("button", { name: "Connect" }).click();
      await page.locator("#live[data-state=live]").waitFor();
      return { page, errors, frames };
    }

    async function addStartersAndPick(page: Page, name: string) {
      await page.getByRole("button", { name: "Add starters" }).click();
      const option = page.locator("#template option", { hasText: name }).first();
      await option.waitFor({ state: "attached" });
      const value = await option.getAttribute("value");
      expect(value).toMatch(/^tpl_/);
      await page.selectOption("#template", value);
      await expect.poll(() => page.locator("#template").inputValue()).toBe(value);
    }

    const field = (page: Page, label: string) => page.locator(".inspector").getByLabel(label, { exact: true });

    it("renders the social card and shows each status live until the image appears", { timeout: 120_000 }, async () => {
      const org = await stack.createOrg(1000);
      const { page, errors, frames } = await openStudio(org.apiKey);
      await page.locator("#balance", { hasText: "$10.00" }).waitFor();
      expect(await page.evaluate(`localStorage.getItem("templified.apiKey")`)).toBe(org.apiKey);

      await addStartersAndPick(page, "Social card");
      expect(await page.locator("#template option").count()).toBe(3);
      // The organisation has every starter now: the button adds no copies.
      await expect.poll(() => page.getByRole("button", { name: "Add starters" }).isDisabled()).toBe(true);
      // The layer list shows the template's layers, topmost first.
      await page.locator('.layers [data-layer="photo"]').waitFor();
      expect(
        await page
          .locator(".layers li[data-layer]")
          .evaluateAll((els) => els.map((el) => el.getAttribute("data-layer"))),
      ).toEqual(["badge_text", "badge", "subtitle", "title", "accent", "photo"]);

      // Select the title in the list: its properties show its text; edit it, and the photo's URL.
      await page.getByRole("button", { name: "title (Text layer)", exact: true }).click();
      expect(await field(page, "Text").inputValue()).toBe("Turn any template into a sharp social card in milliseconds");
      await field(page, "Text").fill("Hello from the Studio end-to-end test");
      await page.getByRole("button", { name: "photo (Image layer)", exact: true }).click();
      await field(page, "Image URL").fill(photoUrl);
      await field(page, "Image URL").press("Enter");
      // Unsaved changes: the button saves a new version, then renders it.
      await page.getByRole("button", { name: "Save and render" }).click();

      for (const status of ["pending", "processing"])
        await page.locator(`#statuses li[data-status="${status}"]`).waitFor({ timeout: 30_000 });
      images.release(); // `processing` was shown: now the photo may come
      await page.locator(`#statuses li[data-status="complete"]`).waitFor({ timeout: 30_000 });
      expect(
        await page.locator("#statuses li").evaluateAll((els) => els.map((el) => el.getAttribute("data-status"))),
      ).toEqual(["pending", "processing", "complete"]);

      const src = (await page.getAttribute("#output", "src"))!;
      const jobId = /\/renders\/(clx_\w+)\.png$/.exec(src)?.[1];
      expect(jobId, src).toBeDefined();
      // The statuses came over graphql-ws: a jobStatus subscription for this job, its events, its end.
      const subscription = frames.find(
        (f) => f.sent && f.message.type === "subscribe" && f.message.payload.variables?.id === jobId,
      );
      expect(subscription?.message.payload.query).toContain("jobStatus(jobId: $id)");
      const events = () => frames.filter((f) => !f.sent && f.message.id === subscription?.message.id);
      await expect.poll(() => events().at(-1)?.message.type).toBe("complete");
      expect(
        events()
          .filter((f) => f.message.type === "next")
          .map((f) => f.message.payload.data.jobStatus.status),
      ).toContain("complete");
      // Polled from here (page.evaluate runs over the DevTools protocol): a string predicate for
      // page.waitForFunction is evaluated by a poller inside the page, which the Studio's CSP
      // (script-src 'self', no eval) refuses whenever the image is not loaded at the first look.
      await expect
        .poll(() =>
          page.evaluate(
            `document.querySelector("#output").complete && document.querySelector("#output").naturalWidth > 0`,
          ),
        )
        .toBe(true);
      expect(await page.evaluate(`document.querySelector("#output").naturalWidth`)).toBe(1200);

      // The API agrees: the job is complete, with the edited title and the photo, from version 2.
      const job = await stack.api(org.apiKey, "GET", `/api/v1/create/${jobId}`);
      expect(job.body).toMatchObject({ status: "complete", output_url: src });
      const stored = await stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: jobId! } });
      const layers = (stored.document as { layers: { name: string; text?: string; image_url?: string }[] }).layers;
      expect(layers.find((l) => l.name === "title")?.text).toBe("Hello from the Studio end-to-end test");
      expect(layers.find((l) => l.name === "photo")?.image_url).toBe(photoUrl);
      expect(layers.find((l) => l.name === "subtitle")?.text).toBe("Templified · open source · self-hosted");
      await page.locator("#save-state", { hasText: "Saved · v2" }).waitFor();

      // The recent jobs list follows jobUpdates; the balance paid one render.
      await page.locator(`#jobs li[data-job-id="${jobId}"][data-status="complete"]`).waitFor();
      await page.locator("#balance", { hasText: "$9.99" }).waitFor();

      await page.screenshot({ path: "/tmp/studio.png" });
      expect(errors).toEqual([]);

      // A reload reconnects with the saved key and lists the job from jobs(first: 8).
      await page.reload();
      await page.locator(`#jobs li[data-job-id="${jobId}"][data-status="complete"]`).waitFor();
      await page.close();
    });

    it("shows typed errors and a bad key plainly", { timeout: 60_000 }, async () => {
      const broke = await stack.createOrg(0);
      const { page, errors } = await openStudio(broke.apiKey);
      await page.locator("#balance", { hasText: "$0.00" }).waitFor();
      await addStartersAndPick(page, "Quote card");
      await page.getByRole("button", { name: "Render", exact: true }).click();
      await page.locator("#error", { hasText: "Insufficient balance" }).waitFor();
      expect(await page.locator("#statuses li").count()).toBe(0);

      await page.fill("#api-key", "tk_live_not_a_real_key");
      await page.getByRole("button", { name: "Connect" }).click();
      await page.locator("#error", { hasText: "Invalid API key" }).waitFor();
      expect(await page.locator(".editor").count()).toBe(0);
      // The browser logs the refused requests itself (the key: 401; a spent organisation's
      // previews: 402); nothing else went wrong.
      expect(errors.filter((e) => !e.includes("401") && !e.includes("402"))).toEqual([]);
      await page.close();
    });
  },
);
