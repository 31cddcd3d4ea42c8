// Run as a child process by test/render-budget.test.ts (node --import tsx): reads
// { document, options } as JSON from stdin, warms the renderer up on a tiny document, records the
// resident set, renders the document once and prints one JSON line:
// { baselineRss, peakRss, elapsedMs, width, height, bytes } (bytes) or { error, code }.
// The peak is the process's high-water mark (getrusage maxrss), read after the render.
import { readFileSync } from "node:fs";
import { RenderError, renderTemplate, type RenderOptions } from "../../src/render/index.js";
import type { TemplateDocument } from "../../src/templates/document.js";

const input = JSON.parse(readFileSync(0, "utf8")) as { document: TemplateDocument; options: RenderOptions };
const rss = () => process.memoryUsage.rss();

// Warm-up: load sharp, libvips, fonts and Pango, so the baseline includes them.
await renderTemplate(
  {
    width: 64,
    height: 64,
    background: "#ffffff",
    layers: [{ type: "text", name: "t", x: 0, y: 0, width: 64, height: 64, text: "warm" } as never],
  },
  { format: input.options.format },
);
global.gc?.();
const baselineRss = rss();
const started = performance.now();
try {
  const out = await renderTemplate(input.document, input.options);
  const elapsedMs = Math.round(performance.now() - started);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    `${JSON.stringify({ baselineRss, peakRss, elapsedMs, width: out.width, height: out.height, bytes: out.buffer.length })}\n`,
  );
} catch (err) {
  const peakRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    `${JSON.stringify({ baselineRss, peakRss, error: err instanceof Error ? err.message : String(err), code: err instanceof RenderError ? err.code : null })}\n`,
  );
}
