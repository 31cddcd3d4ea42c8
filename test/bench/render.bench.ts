// Render benchmark (plain tsx script, not vitest):
//   npx tsx test/bench/render.bench.ts [N=200] [--out=/tmp/card.png]
// Renders the 1200x630 social card (test/fixtures/social-card.template.json: photo, accent rect,
// title, subtitle) N times per format after a warm-up, with the photo (a generated 2000x1500 JPEG)
// fetched over real HTTP from a local server, and prints median/p99 ms per render and renders/s,
// once with the decoded-image cache off (every render fetches and decodes) and once with it on.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import sharp from "sharp";
import { configureImageCache, configureSharp, renderTemplate } from "../../src/render/index.js";
import { TemplateDocument, type OutputFormat } from "../../src/templates/document.js";

const here = import.meta.dirname;
const fixturePath = path.join(here, "../fixtures/social-card.template.json");
const photoPath = path.join(here, "../fixtures/photo.jpg");

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 200);
const outArg = args.find((a) => a.startsWith("--out="))?.slice("--out=".length);

const FALLBACK_CARD = {
  name: "Social card",
  width: 1200,
  height: 630,
  background: "#0f172a",
  layers: [
    { type: "image", name: "photo", x: 0, y: 0, width: 540, height: 630, fit: "cover", placeholder_color: "#334155" },
    { type: "rect", name: "accent", x: 600, y: 96, width: 96, height: 10, fill: "#f59e0b", radius: 5 },
    {
      type: "text", name: "title", x: 600, y: 140, width: 540, height: 260,
      text: "Render images from templates in milliseconds", font_family: "Inter", font_weight: 700,
      font_size: 56, color: "#f8fafc", line_height: 1.15,
    },
    {
      type: "text", name: "subtitle", x: 600, y: 430, width: 540, height: 120,
      text: "Templified · open source · self-hosted", font_family: "Inter", font_weight: 400, font_size: 28, color: "#94a3b8",
    },
  ],
};

/** A 2000x1500 photo-like JPEG (gradient + noise, so it compresses like a photo, not a flat colour). */
async function makePhoto(): Promise<Buffer> {
  const w = 2000;
  const h = 1500;
  const raw = Buffer.alloc(w * h * 3);
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 24 - 12;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = Math.max(0, Math.min(255, 240 - (y / h) * 80 + rand()));
      raw[i + 1] = Math.max(0, Math.min(255, 120 + (x / w) * 60 + rand()));
      raw[i + 2] = Math.max(0, Math.min(255, 30 + ((x + y) / (w + h)) * 120 + rand()));
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).blur(1.5).jpeg({ quality: 80 }).toBuffer();
}

async function main() {
  if (!existsSync(fixturePath)) writeFileSync(fixturePath, `${JSON.stringify(FALLBACK_CARD, null, 2)}\n`);
  let photo: Buffer;
  if (existsSync(photoPath)) photo = readFileSync(photoPath);
  else {
    photo = await makePhoto();
    if (photo.length < 300 * 1024) writeFileSync(photoPath, photo);
  }

  const server = createServer((req, res) => {
    if (req.url === "/photo.jpg") res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const card = JSON.parse(readFileSync(fixturePath, "utf8")) as { layers: { name: string; image_url?: string }[] };
  for (const layer of card.layers) if (layer.name === "photo") layer.image_url = `http://127.0.0.1:${port}/photo.jpg`;
  const doc = TemplateDocument.parse(card);

  configureSharp();
  console.log(
    `sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, concurrency ${sharp.concurrency()}, ` +
      `photo ${Math.round(photo.length / 1024)} KiB 2000x1500, N=${n}`,
  );
  const modes = [
    { label: "fetch + decode on every render (image cache off)", cache: { ttlMs: 0 } },
    { label: "decoded-image cache on (the default)", cache: {} },
  ];
  for (const mode of modes) {
    configureImageCache(mode.cache);
    console.log(`-- ${mode.label}`);
    for (const format of ["jpeg", "png", "webp"] as OutputFormat[]) {
      const last = await bench(doc, format);
      if (outArg && format === "png") writeFileSync(outArg, last);
    }
  }
  server.close();
}

async function bench(doc: TemplateDocument, format: OutputFormat): Promise<Buffer> {
  const opts = { format, allowPrivateNetworks: true };
  let last = await renderTemplate(doc, opts);
  for (let i = 0; i < 10; i++) await renderTemplate(doc, opts); // warm-up
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    last = await renderTemplate(doc, opts);
    times.push(performance.now() - start);
  }
  const wall = performance.now() - t0;
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  console.log(
    `${format.padEnd(5)} median ${q(0.5).toFixed(1)} ms  p99 ${q(0.99).toFixed(1)} ms  ` +
      `${((n / wall) * 1000).toFixed(1)} renders/s  (${Math.round(last.buffer.length / 1024)} KiB)`,
  );
  return last.buffer;
}

await main();
