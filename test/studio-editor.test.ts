// The Studio editor end to end, in headless Chromium at a laptop's size (1366x768) against the
// real stack: open the editor, add a text layer, drag it with the mouse, edit its text and colour
// in the properties panel, undo and redo (button and keyboard), nudge it with the arrow keys,
// save a new template version (checked over REST: the layer is where it was dropped), render it
// (the status arrives live) and check the image is pixel for pixel the server's own render of the
// saved version; export it to a webhook (the async branch); open the earlier version. Editing
// shows server previews, which create no job and no ledger entry.
//
// Needs Chromium at /usr/bin/chromium (CHROMIUM_PATH sets another path); skipped, saying so, without it.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startImageHost } from "./helpers/image-host.js";
import { startStack, type Stack } from "./helpers/stack.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const root = new URL("..", import.meta.url);

/** Snapping may pull a dragged box this far (the editor's 6 screen pixels, in document pixels at the test's scale) plus rounding. */
const snapSlack = (scale: number) => 6 / scale + 1;

const DOCUMENT = {
  name: "Editor test",
  width: 800,
  height: 400,
  background: "#f8fafc",
  layers: [{ type: "rect", name: "panel", x: 0, y: 0, width: 240, height: 400, fill: "#1e293b" }],
};

const editor = hasChromium ? describe : describe.skip;
if (!hasChromium)
  console.warn(
    `test/studio-editor.test.ts: no Chromium at ${CHROMIUM}: the Studio editor tests are SKIPPED (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );

editor(
  hasChromium ? "Studio editor in headless Chromium" : `Studio editor: SKIPPED, no Chromium at ${CHROMIUM}`,
  () => {
    let stack: Stack;
    let browser: Browser;

    beforeAll(async () => {
      const built = promisify(execFile)(
        process.execPath,
        ["node_modules/vite/bin/vite.js", "build", "--config", "src/web/vite.config.ts", "--logLevel", "error"],
        { cwd: root },
      );
      stack = await startStack();
      await built;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await stack?.stop();
    });

    async function openEditor(apiKey: string): Promise<{ page: Page; errors: string[] }> {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => void (m.type() === "error" && errors.push(`console: ${m.text()}`)));
      expect((await page.goto(`${stack.baseUrl}/`))?.status()).toBe(200);
      await page.fill("#api-key", apiKey);
      await page.getByRole("button", { name: "Connect" }).click();
      await page.locator("#live[data-state=live]").waitFor();
      return { page, errors };
    }

    const field = (page: Page, label: string) => page.locator(".inspector").getByLabel(label, { exact: true });
    const numberIn = async (page: Page, label: string) => Number(await field(page, label).inputValue());

    it(
      "adds, drags, edits, undoes and redoes, nudges, saves a version, renders what the server renders, exports, opens a version",
      { timeout: 180_000 },
      async () => {
        const org = await stack.createOrg(1000);
        const prisma = stack.app.ctx.prisma;
        const created = await stack.api(org.apiKey, "POST", "/api/v1/templates", DOCUMENT);
        expect(created.status).toBe(201);
        const templateId: string = created.body.template_id;
        const ledgerBefore = await prisma.ledgerEntry.count({ where: { orgId: org.orgId } });

        const { page, errors } = await openEditor(org.apiKey);
        await page.locator('.layers [data-layer="panel"]').waitFor();
        expect(await page.locator("#template").inputValue()).toBe(templateId);

        // Add a text layer: it is selected, centred, with its properties shown.
        await page.getByRole("button", { name: "Add a text layer" }).click();
        const box = page.locator('.box[data-layer="text_1"]');
        await box.waitFor();
        expect(await field(page, "Text").inputValue()).toBe("Your text here");
        const start = { x: await numberIn(page, "X"), y: await numberIn(page, "Y") };
        expect(start).toEqual({ x: 200, y: 160 }); // centred: (800 - 400) / 2, (400 - 80) / 2

        // Drag it by the mouse; the box follows at once, the document keeps the drop position.
        const scale = Number(await page.locator(".stage").getAttribute("data-scale"));
        expect(scale).toBeGreaterThan(0.3);
        const rect = (await box.boundingBox())!;
        const from = { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
        const move = { x: 173, y: 91 }; // screen pixels
        await page.mouse.move(from.x, from.y);
        await page.mouse.down();
        await page.mouse.move(from.x + move.x / 2, from.y + move.y / 2, { steps: 5 });
        await page.mouse.move(from.x + move.x, from.y + move.y, { steps: 5 });
        await page.mouse.up();
        const dropped = { x: await numberIn(page, "X"), y: await numberIn(page, "Y") };
        expect(Math.abs(dropped.x - (start.x + move.x / scale))).toBeLessThanOrEqual(snapSlack(scale));
        expect(Math.abs(dropped.y - (start.y + move.y / scale))).toBeLessThanOrEqual(snapSlack(scale));
        const moved = (await box.boundingBox())!;
        expect(Math.abs(moved.x - rect.x - (dropped.x - start.x) * scale)).toBeLessThanOrEqual(1.5);

        // Edit the text and the colour in the properties panel.
        await field(page, "Text").fill("Dropped here");
        await field(page, "Colour").fill("#dc2626");

        // Undo (the button) takes the colour back, Ctrl+Z the text; redo (button, Ctrl+Shift+Z) both again.
        await page.getByRole("button", { name: "Undo" }).click();
        await expect.poll(() => field(page, "Colour").inputValue()).toBe("#0f172a");
        expect(await field(page, "Text").inputValue()).toBe("Dropped here");
        await page.keyboard.press("Control+z");
        await expect.poll(() => field(page, "Text").inputValue()).toBe("Your text here");
        expect({ x: await numberIn(page, "X"), y: await numberIn(page, "Y") }).toEqual(dropped);
        await page.getByRole("button", { name: "Redo" }).click();
        await expect.poll(() => field(page, "Text").inputValue()).toBe("Dropped here");
        await page.keyboard.press("Control+Shift+z");
        await expect.poll(() => field(page, "Colour").inputValue()).toBe("#dc2626");

        // Arrow keys nudge the selected layer: 1 px, 10 px with Shift; then back where it was dropped.
        await page.locator(".stage").focus();
        await page.keyboard.press("ArrowRight");
        await expect.poll(() => numberIn(page, "X")).toBe(dropped.x + 1);
        await page.keyboard.press("Shift+ArrowDown");
        await expect.poll(() => numberIn(page, "Y")).toBe(dropped.y + 10);
        await page.keyboard.press("ArrowLeft");
        await page.keyboard.press("Shift+ArrowUp");
        await expect.poll(() => numberIn(page, "Y")).toBe(dropped.y);
        expect(await numberIn(page, "X")).toBe(dropped.x);

        // The canvas shows the server's preview of the edited document.
        await page.locator('#preview-status[data-state="ok"]').waitFor({ timeout: 30_000 });
        await expect
          .poll(() =>
            page.evaluate(
              `document.querySelector("#preview")?.complete && document.querySelector("#preview").naturalWidth > 0`,
            ),
          )
          .toBe(true);
        // Previews cost nothing: no job, no ledger entry so far.
        expect(await prisma.job.count({ where: { orgId: org.orgId } })).toBe(0);
        expect(await prisma.ledgerEntry.count({ where: { orgId: org.orgId } })).toBe(ledgerBefore);

        // Save: a new version whose document has the layer where it was dropped.
        await page.locator("#save-state", { hasText: "Unsaved changes" }).waitFor();
        await page.getByRole("button", { name: "Save version" }).click();
        await page.locator("#save-state", { hasText: "Saved · v2" }).waitFor();
        const versions = await stack.api(org.apiKey, "GET", `/api/v1/templates/${templateId}/versions`);
        expect(versions.body.data.map((v: { version: number }) => v.version)).toEqual([2, 1]);
        const saved = versions.body.data[0];
        const text = saved.layers.find((l: { name: string }) => l.name === "text_1");
        expect(text).toMatchObject({
          type: "text",
          x: dropped.x,
          y: dropped.y,
          text: "Dropped here",
          color: "#dc2626",
        });
        expect(saved.layers.map((l: { name: string }) => l.name)).toEqual(["panel", "text_1"]);

        // Render (charged): pending -> … -> complete, live.
        await page.getByRole("button", { name: "Render", exact: true }).click();
        await page.locator('#statuses li[data-status="complete"]').waitFor({ timeout: 60_000 });
        const src = (await page.getAttribute("#output", "src"))!;
        const jobId = /\/renders\/(clx_\w+)\.png$/.exec(src)?.[1];
        expect(jobId, src).toBeDefined();
        expect(await prisma.job.count({ where: { orgId: org.orgId } })).toBe(1);

        // The server's render of the saved version, asked for by the test itself: the same pixels.
        const mine = await stack.api(org.apiKey, "POST", "/api/v1/create?sync=true", {
          template_id: templateId,
          format: "png",
        });
        expect(mine.body).toMatchObject({ status: "complete" });
        const [studioImage, serverImage] = await Promise.all(
          [src, mine.body.output_url as string].map(async (url) => {
            const res = await fetch(new URL(url, stack.baseUrl));
            expect(res.status).toBe(200);
            return sharp(Buffer.from(await res.arrayBuffer()))
              .raw()
              .toBuffer({ resolveWithObject: true });
          }),
        );
        expect(studioImage!.info).toEqual(serverImage!.info);
        expect(studioImage!.info.width).toBe(800);
        expect(studioImage!.data.equals(serverImage!.data)).toBe(true);

        // Export to a webhook, queued: the answer is the contract's async branch (only job_id), and
        // the render and the delivery then follow live.
        const received: Buffer[] = [];
        const hook = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("end", () => {
            received.push(Buffer.concat(chunks));
            res.writeHead(200, { "content-type": "application/json" }).end("{}");
          });
        });
        await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
        try {
          await page.getByRole("tab", { name: "Export" }).click();
          await page
            .getByLabel("Webhook URL", { exact: true })
            .fill(`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`);
          expect(await page.getByLabel("Queue (async)").isChecked()).toBe(true);
          await page.getByRole("button", { name: "Export", exact: true }).click();
          await page.locator('#export-result[data-async="true"]').waitFor();
          await page.locator('#export-result [data-send-to-status="delivered"]').waitFor({ timeout: 60_000 });
          expect(received).toHaveLength(1);
          expect(JSON.parse(received[0]!.toString())).toMatchObject({ type: "render.image", template_id: templateId });
        } finally {
          hook.close();
        }

        // The panels' tabs follow the tabs pattern: arrow keys move between them, each tab
        // controls its panel; the code panel's own tabs too.
        await page.getByRole("tab", { name: "Export" }).focus();
        await page.keyboard.press("ArrowRight");
        await expect.poll(() => page.getByRole("tab", { name: "Code" }).getAttribute("aria-selected")).toBe("true");
        expect(await page.evaluate(`document.activeElement?.id`)).toBe("tab-code");
        expect(await page.getByRole("tab", { name: "Code" }).getAttribute("aria-controls")).toBe("panel-code");
        await page.locator("#panel-code").waitFor();
        await page.getByRole("tab", { name: "curl" }).focus();
        await page.keyboard.press("ArrowLeft"); // wraps to the last
        await expect.poll(() => page.locator("#code").getAttribute("data-tab")).toBe("graphql");
        expect(await page.getByRole("tabpanel", { name: "GraphQL" }).count()).toBe(1);
        await page.keyboard.press("Home");
        await expect.poll(() => page.locator("#code").getAttribute("data-tab")).toBe("curl");
        expect(await page.locator("#code").textContent()).toContain(`-d '{"template_id":"${templateId}"`);
        expect(await page.locator("#code").textContent()).not.toContain(org.apiKey);
        // The preview's status line changes with every edit: it is not a live region.
        expect(await page.locator("#preview-status").getAttribute("aria-live")).toBeNull();

        // An earlier version opens as unsaved changes to the latest.
        await page.selectOption("#version", "1");
        await expect.poll(() => page.locator('.layers [data-layer="text_1"]').count()).toBe(0);
        await page.locator("#save-state", { hasText: "Unsaved changes" }).waitFor();

        await page.screenshot({ path: "/tmp/studio-editor.png" });
        expect(errors).toEqual([]);
        // Leaving with unsaved changes asks first: the page cancels beforeunload (the browser then asks).
        const cancelsLeaving = `(() => { const e = new Event("beforeunload", { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; })()`;
        expect(await page.evaluate(cancelsLeaving)).toBe(true);
        // Forgetting the key would close the editor: it asks first, and Cancel keeps the changes.
        const asked: string[] = [];
        page.once("dialog", (dialog) => {
          asked.push(dialog.message());
          void dialog.dismiss();
        });
        await page.getByRole("button", { name: "Forget key" }).click();
        await expect.poll(() => asked).toEqual(["This template has unsaved changes. Discard them?"]);
        await page.locator("#save-state", { hasText: "Unsaved changes" }).waitFor();
        expect(await page.locator(".editor").count()).toBe(1);
        await page.getByRole("button", { name: "Save version" }).click();
        await page.locator("#save-state", { hasText: "Saved · v3" }).waitFor();
        const latest = await stack.api(org.apiKey, "GET", `/api/v1/templates/${templateId}`);
        expect(latest.body.layers.map((l: { name: string }) => l.name)).toEqual(["panel"]); // version 1's document
        expect(await page.evaluate(cancelsLeaving)).toBe(false);
        await page.close();
      },
    );

    it(
      "resizes, rotates, duplicates, reorders, hides, locks, renames and deletes layers; shows what a preview leaves out",
      { timeout: 120_000 },
      async () => {
        const org = await stack.createOrg(1000);
        await stack.api(org.apiKey, "POST", "/api/v1/templates", DOCUMENT);
        const { page, errors } = await openEditor(org.apiKey);
        await page.locator('.layers [data-layer="panel"]').waitFor();
        const order = () =>
          page.locator(".layers li[data-layer]").evaluateAll((els) => els.map((el) => el.getAttribute("data-layer")));
        const scale = Number(await page.locator(".stage").getAttribute("data-scale"));

        await page.getByRole("button", { name: "Add a rectangle layer" }).click();
        const box = page.locator('.box[data-layer="rectangle_1"]');
        await box.waitFor();
        const before = { w: await numberIn(page, "Width"), h: await numberIn(page, "Height") };
        expect(before).toEqual({ w: 200, h: 100 });

        // Resize from the south-east handle (Alt: no snapping), by 40 x 20 screen pixels.
        const se = (await box.locator('[data-handle="se"]').boundingBox())!;
        await page.keyboard.down("Alt");
        await page.mouse.move(se.x + se.width / 2, se.y + se.height / 2);
        await page.mouse.down();
        await page.mouse.move(se.x + se.width / 2 + 40, se.y + se.height / 2 + 20, { steps: 4 });
        await page.mouse.up();
        await page.keyboard.up("Alt");
        expect(Math.abs((await numberIn(page, "Width")) - (before.w + 40 / scale))).toBeLessThanOrEqual(1);
        expect(Math.abs((await numberIn(page, "Height")) - (before.h + 20 / scale))).toBeLessThanOrEqual(1);
        expect(await numberIn(page, "X")).toBe(300); // the opposite corner stays

        // Rotate with the round handle, Shift for 15° steps: pointing right of the centre is 90°.
        const rotate = (await box.locator('[data-handle="rotate"]').boundingBox())!;
        const centre = (await box.boundingBox())!;
        await page.mouse.move(rotate.x + rotate.width / 2, rotate.y + rotate.height / 2);
        await page.mouse.down();
        await page.keyboard.down("Shift");
        await page.mouse.move(centre.x + centre.width + 80, centre.y + centre.height / 2, { steps: 4 });
        await page.mouse.up();
        await page.keyboard.up("Shift");
        expect(await numberIn(page, "Rotation (°)")).toBe(90);

        // Duplicate (Ctrl+D from the canvas): the copy is selected, above the original.
        await page.locator(".stage").focus();
        await page.keyboard.press("Control+d");
        await expect.poll(order).toEqual(["rectangle_1_copy_1", "rectangle_1", "panel"]);
        expect(await field(page, "Name").inputValue()).toBe("rectangle_1_copy_1");

        // Reorder by dragging in the list: the panel to the top.
        await page
          .locator('.layers li[data-layer="panel"]')
          .dragTo(page.locator('.layers li[data-layer="rectangle_1_copy_1"]'));
        await expect.poll(order).toEqual(["panel", "rectangle_1_copy_1", "rectangle_1"]);
        // And with the keyboard: Alt+ArrowDown moves the focused layer down one.
        await page.getByRole("button", { name: "panel (Rectangle layer)" }).focus();
        await page.keyboard.press("Alt+ArrowDown");
        await expect.poll(order).toEqual(["rectangle_1_copy_1", "panel", "rectangle_1"]);

        // Hide: no box on the canvas, and the document says hidden.
        await page.getByRole("button", { name: "Hide rectangle_1", exact: true }).click();
        await expect.poll(() => page.locator('.box[data-layer="rectangle_1"]').count()).toBe(0);
        await page.getByRole("button", { name: "Show rectangle_1", exact: true }).click();
        await box.waitFor();

        // Lock: arrows no longer move it, and the canvas lets the mouse through.
        await page.getByRole("button", { name: "rectangle_1 (Rectangle layer)" }).click();
        await page.getByRole("button", { name: "Lock rectangle_1", exact: true }).click();
        const x = await numberIn(page, "X");
        await page.locator(".stage").focus();
        await page.keyboard.press("ArrowRight");
        expect(await numberIn(page, "X")).toBe(x);
        expect(await box.getAttribute("class")).toContain("locked");
        await page.getByRole("button", { name: "Unlock rectangle_1", exact: true }).click();

        // Rename with F2 in the list.
        await page.getByRole("button", { name: "rectangle_1 (Rectangle layer)" }).focus();
        await page.keyboard.press("F2");
        await page.getByLabel("New name for rectangle_1").fill("card");
        await page.keyboard.press("Enter");
        await expect.poll(order).toEqual(["rectangle_1_copy_1", "panel", "card"]);

        // The boxes on the canvas are reachable with Tab: focusing one selects it, arrows move it.
        await page.locator('.box[data-layer="panel"]').focus();
        await expect.poll(() => field(page, "Name").inputValue()).toBe("panel");
        await page.keyboard.press("ArrowDown");
        await expect.poll(() => numberIn(page, "Y")).toBe(1);
        await page.keyboard.press("ArrowUp");
        await expect.poll(() => numberIn(page, "Y")).toBe(0);

        // Delete with the Delete key (the canvas focused), then the canvas's background as a gradient.
        await page.getByRole("button", { name: "card (Rectangle layer)" }).click();
        await page.locator(".stage").focus();
        await page.keyboard.press("Delete");
        await expect.poll(order).toEqual(["rectangle_1_copy_1", "panel"]);
        await page.keyboard.press("Escape");
        await page.locator(".inspector").getByLabel("Background", { exact: true }).selectOption("gradient");
        await field(page, "Stop 2 colour").fill("#ff0000");

        await page.getByRole("button", { name: "Save version" }).click();
        await page.locator("#save-state", { hasText: "Saved · v2" }).waitFor();
        const template = (await stack.api(org.apiKey, "GET", "/api/v1/templates?limit=1")).body.data[0];
        expect(template.background).toEqual({
          type: "linear_gradient",
          angle: 180,
          stops: [
            { color: "#0f172a", offset: 0 },
            { color: "#ff0000", offset: 1 },
          ],
        });
        expect(template.layers.map((l: { name: string }) => l.name)).toEqual(["panel", "rectangle_1_copy_1"]);
        expect(template.layers[1]).toMatchObject({ type: "rect", rotation: 90 });
        await page.locator('#preview-status[data-state="ok"]').waitFor({ timeout: 30_000 });

        // An image layer that removes its background: the preview says what it left out.
        const photo = await readFile(new URL("fixtures/photo.jpg", import.meta.url));
        const images = await startImageHost(photo, { contentType: "image/jpeg", holding: false });
        try {
          await page.getByRole("button", { name: "Add an image layer" }).click();
          await field(page, "Image URL").fill(`${images.url}/photo.jpg`);
          await field(page, "Image URL").press("Enter");
          await page.locator(".inspector").getByLabel("Remove the background").check();
          await page
            .locator("#preview-status .preview-notes", { hasText: 'image layer "image_1": background not removed' })
            .waitFor({ timeout: 30_000 });
        } finally {
          await images.close();
        }
        expect(errors).toEqual([]);
        await page.close();
      },
    );
  },
);
