// Uploaded fonts: validated by parsing, size-limited, WOFF unpacked, usable by family name in the
// organisation's templates (and only there), rendered with the uploaded face.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPixelsAt } from "./helpers/pixels.js";
import { STORAGE_BACKENDS, startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };
const lobsterWoff = readFileSync(path.join(import.meta.dirname, "fixtures/fonts/Lobster-Regular.woff"));
const monoTtf = readFileSync(
  path.join(import.meta.dirname, "../node_modules/@expo-google-fonts/jetbrains-mono/700Bold/JetBrainsMono_700Bold.ttf"),
);

async function upload(apiKey: string, bytes: Buffer | string, query = "", contentType = "font/ttf") {
  const res = await fetch(`${stack.baseUrl}/api/v1/fonts${query}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": contentType },
    body: typeof bytes === "string" ? bytes : new Uint8Array(bytes),
  });
  return { status: res.status, body: await res.json() };
}

const textCard = (family: string, text = "Hello") => ({
  name: `card ${family}`,
  width: 300,
  height: 80,
  background: "#ffffff",
  layers: [
    {
      type: "text",
      name: "t",
      x: 10,
      y: 10,
      width: 280,
      height: 60,
      text,
      font_family: family,
      font_size: 40,
      color: "#000000",
    },
  ],
});

async function renderInk(apiKey: string, family: string): Promise<Buffer> {
  const tpl = await stack.api(apiKey, "POST", "/api/v1/templates", textCard(family));
  expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
  const job = await stack.api(apiKey, "POST", "/api/v1/create", { template_id: tpl.body.template_id });
  const done = await waitForFinal(stack, apiKey, job.body.job_id);
  expect(done.status, done.error).toBe("complete");
  return (await readPixelsAt(done.output_url, { grey: true })).data;
}

const difference = (a: Buffer, b: Buffer) => a.reduce((n, v, i) => n + (Math.abs(v - b[i]!) > 64 ? 1 : 0), 0);

describe.each(STORAGE_BACKENDS)("%s storage", (storage) => {
  // Uploaded fonts are kept in storage and rendered from a local copy (storage.localPath): on S3,
  // a copy downloaded into the worker's cache.
  beforeAll(async () => {
    stack = await startStack({ FONT_MAX_BYTES: String(400 * 1024) }, undefined, { storage });
    org = await stack.createOrg(1000);
  });
  afterAll(() => stack?.stop());

  describe("font upload", () => {
    it("accepts a WOFF, reads family/weight/style from the file, and renders text with it", async () => {
      const res = await upload(org.apiKey, lobsterWoff, "", "font/woff");
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ family: "Lobster", weight: 400, style: "normal", format: "woff" });
      expect(res.body.font_id).toMatch(/^fnt_/);

      const lobster = await renderInk(org.apiKey, "Lobster");
      const inter = await renderInk(org.apiKey, "Inter");
      expect(difference(lobster, inter)).toBeGreaterThan(200); // a different face, not a fallback
    });

    it("accepts a TTF under a family name of the organisation's choosing, rendered with that face", async () => {
      const res = await upload(org.apiKey, monoTtf, "?family=Brand%20Mono");
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ family: "Brand Mono", weight: 700, style: "normal", format: "ttf" });
      const brand = await renderInk(org.apiKey, "Brand Mono");
      const inter = await renderInk(org.apiKey, "Inter");
      expect(difference(brand, inter)).toBeGreaterThan(200);

      const list = await stack.api(org.apiKey, "GET", "/api/v1/fonts");
      expect(list.body.data.map((f: { family: string }) => f.family)).toEqual(["Brand Mono", "Lobster"]);
      expect(list.body.built_in.map((f: { family: string }) => f.family)).toEqual([
        "Inter",
        "Noto Serif",
        "JetBrains Mono",
      ]);
    });

    it("keeps fonts to their organisation", async () => {
      const other = await stack.createOrg(100);
      const res = await stack.api(other.apiKey, "POST", "/api/v1/templates", textCard("Lobster"));
      expect(res.status).toBe(400);
      expect(res.body.error).toContain('unknown font family "Lobster"');
    });

    it("refuses what is not a font (400), too large (413), a wrong content type (415), a built-in name (400)", async () => {
      const garbage = await upload(org.apiKey, Buffer.from("definitely not a font file"));
      expect(garbage.status).toBe(400);
      expect(garbage.body.error).toMatch(/not a font/);
      const truncated = await upload(org.apiKey, monoTtf.subarray(0, 2000));
      expect(truncated.status).toBe(400);
      expect(truncated.body.error).toMatch(/could not be parsed|damaged/);
      const big = await upload(org.apiKey, Buffer.alloc(500 * 1024, 1));
      expect(big.status).toBe(413);
      const json = await upload(org.apiKey, JSON.stringify({ font: "x" }), "", "application/json");
      expect(json.status).toBe(415);
      const shadow = await upload(org.apiKey, monoTtf, "?family=Inter");
      expect(shadow.status).toBe(400);
      expect(shadow.body.error).toContain("built-in");
    });

    it("deletes a font: templates can no longer use it", async () => {
      const font = await upload(org.apiKey, monoTtf, "?family=Temp%20Face");
      expect((await stack.api(org.apiKey, "DELETE", `/api/v1/fonts/${font.body.font_id}`)).status).toBe(204);
      expect((await stack.api(org.apiKey, "POST", "/api/v1/templates", textCard("Temp Face"))).status).toBe(400);
      expect((await stack.api(org.apiKey, "DELETE", `/api/v1/fonts/${font.body.font_id}`)).status).toBe(404);
    });
  });
});
