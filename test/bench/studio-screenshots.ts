// The README's screenshots of the Studio editor, at 1440x900 in headless Chromium against a real
// stack (a throwaway organisation on the test database): the editor with a selected layer and its
// properties, the code panel, and a render complete. Written to docs/images/studio-*.png as
// palette PNGs (small enough to commit).
//   npm run screenshots        (needs PostgreSQL and Redis like the tests, and Chromium)
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { expect, it } from "vitest";
import { startImageHost } from "../helpers/image-host.js";
import { startStack } from "../helpers/stack.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const root = new URL("../..", import.meta.url);
const out = (name: string) => new URL(`docs/images/${name}`, root).pathname;

/** A screenshot of the page as a palette PNG (a quarter of the size of a true-colour one). */
async function shoot(page: Page, name: string) {
  const png = await page.screenshot({ type: "png" });
  await sharp(png).png({ palette: true, quality: 90, compressionLevel: 9 }).toFile(out(name));
}

it("takes the Studio screenshots", { timeout: 180_000 }, async () => {
  await promisify(execFile)(
    process.execPath,
    ["node_modules/vite/bin/vite.js", "build", "--config", "src/web/vite.config.ts", "--logLevel", "error"],
    { cwd: root },
  );
  const stack = await startStack();
  const images = await startImageHost(await readFile(new URL("../fixtures/photo.jpg", import.meta.url)), {
    contentType: "image/jpeg",
    holding: false,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const org = await stack.createOrg(2500);
    // The social card with a photo, as a designer would have it.
    const card = JSON.parse(await readFile(new URL("../fixtures/social-card.template.json", import.meta.url), "utf8"));
    card.layers.find((l: { name: string }) => l.name === "photo").image_url = `${images.url}/photo.jpg`;
    expect((await stack.api(org.apiKey, "POST", "/api/v1/templates", card)).status).toBe(201);

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${stack.baseUrl}/`);
    await page.fill("#api-key", org.apiKey);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.locator("#live[data-state=live]").waitFor();
    await page.getByRole("button", { name: "title (Text layer)", exact: true }).click();
    await page.locator('#preview-status[data-state="ok"]').waitFor({ timeout: 30_000 });
    // The first preview of a fresh process is a cold one (fonts, the photo's download): nudge the
    // layer and undo it so the status line shows a warm preview's time, as while editing.
    for (const key of ["ArrowRight", "Control+z"]) {
      const answered = page.waitForResponse((r) => r.url().endsWith("/api/v1/previews"));
      await page.keyboard.press(key);
      await answered;
    }
    await page.locator('#preview-status[data-state="ok"]').waitFor({ timeout: 30_000 });
    await page.mouse.move(0, 0);
    await shoot(page, "studio-editor.png");

    await page.getByRole("tab", { name: "Code" }).click();
    await page.getByRole("tab", { name: "GraphQL" }).click();
    await shoot(page, "studio-code.png");

    await page.getByRole("tab", { name: "Render" }).click();
    await page.getByRole("button", { name: "Render", exact: true }).click();
    await page.locator('#statuses li[data-status="complete"]').waitFor({ timeout: 60_000 });
    await expect
      .poll(() =>
        page.evaluate(
          `document.querySelector("#output")?.complete && document.querySelector("#output").naturalWidth > 0`,
        ),
      )
      .toBe(true);
    await shoot(page, "studio-render.png");
  } finally {
    await browser.close();
    await images.close();
    await stack.stop();
  }
});
