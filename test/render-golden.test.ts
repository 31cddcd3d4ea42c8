// Golden images: small documents exercising every renderer feature, rendered to PNG and compared
// with the checked-in PNGs under test/fixtures/golden/ (pixelmatch, threshold 0.1, at most 0.5%
// of the pixels may differ: font rasterisation differs slightly between libvips builds).
// A missing golden file is written (and the test says so); UPDATE_GOLDEN=1 rewrites them all.
// LOOK at a golden before checking it in. On a mismatch the actual image and a diff are written
// to the temp directory named in the failure.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import pixelmatch from "pixelmatch";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureImageCache, renderTemplate, type RenderOptions } from "../src/render/index.js";
import { TemplateDocument } from "../src/templates/document.js";
import { readPixels } from "./helpers/pixels.js";

const GOLDEN_DIR = path.join(import.meta.dirname, "fixtures/golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const MAX_DIFF_RATIO = 0.005;

let server: Server;
let base: string;

/** Deterministic test images, generated with sharp (no network, no files). */
async function makeImages(): Promise<Record<string, { type: string; body: Buffer }>> {
  // A landscape "photo": sky gradient, sun, two hills, a red marker top-left, a blue one bottom-right.
  const landscape = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="500">
        <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#38bdf8"/><stop offset="1" stop-color="#e0f2fe"/></linearGradient></defs>
        <rect width="800" height="500" fill="url(#sky)"/>
        <circle cx="600" cy="140" r="70" fill="#facc15"/>
        <ellipse cx="220" cy="520" rx="420" ry="200" fill="#15803d"/>
        <ellipse cx="650" cy="560" rx="380" ry="220" fill="#166534"/>
        <rect x="0" y="0" width="80" height="80" fill="#dc2626"/>
        <rect x="720" y="420" width="80" height="80" fill="#1d4ed8"/>
      </svg>`,
    ),
  )
    .jpeg({ quality: 90 })
    .toBuffer();
  // A portrait with horizontal bands, to see which part `cover` keeps.
  const portrait = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="600">
        <rect width="300" height="200" fill="#ef4444"/><rect y="200" width="300" height="200" fill="#f8fafc"/><rect y="400" width="300" height="200" fill="#3b82f6"/>
        <circle cx="150" cy="300" r="60" fill="#111827"/>
      </svg>`,
    ),
  )
    .png()
    .toBuffer();
  // A logo with transparency.
  const logo = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">
        <circle cx="100" cy="100" r="90" fill="#f97316" fill-opacity="0.85"/><rect x="60" y="60" width="80" height="80" rx="12" fill="#ffffff"/>
      </svg>`,
    ),
  )
    .png()
    .toBuffer();
  return {
    "/landscape.jpg": { type: "image/jpeg", body: landscape },
    "/portrait.png": { type: "image/png", body: portrait },
    "/logo.png": { type: "image/png", body: logo },
  };
}

beforeAll(async () => {
  configureImageCache({ ttlMs: 0 });
  const images = await makeImages();
  server = createServer((req, res) => {
    const image = images[req.url ?? ""];
    if (image) res.writeHead(200, { "content-type": image.type, "content-length": image.body.length }).end(image.body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  configureImageCache();
});

interface GoldenCase {
  name: string;
  doc: () => unknown;
  opts?: Partial<RenderOptions>;
}

const LOREM = "Golden images keep the renderer honest: every pixel of this paragraph is compared on each run";

const CASES: GoldenCase[] = [
  {
    // Gradient background (diagonal, three stops) and every shape: plain, rounded, stroked,
    // stroke only, translucent fill (#rrggbbaa), layer opacity, rotated rect and ellipse.
    name: "shapes-gradient",
    doc: () => ({
      width: 400,
      height: 260,
      background: {
        type: "linear_gradient",
        angle: 135,
        stops: [
          { color: "#0f172a", offset: 0 },
          { color: "#4338ca", offset: 0.6 },
          { color: "#db2777", offset: 1 },
        ],
      },
      layers: [
        { type: "rect", name: "plain", x: 20, y: 20, width: 80, height: 60, fill: "#f59e0b" },
        {
          type: "rect",
          name: "rounded",
          x: 120,
          y: 20,
          width: 110,
          height: 60,
          fill: "#22c55e",
          radius: 18,
          stroke_color: "#ffffff",
          stroke_width: 4,
        },
        {
          type: "ellipse",
          name: "ellipse",
          x: 250,
          y: 20,
          width: 130,
          height: 60,
          fill: "#06b6d4",
          stroke_color: "#0f172a",
          stroke_width: 3,
        },
        {
          type: "ellipse",
          name: "ring",
          x: 20,
          y: 110,
          width: 80,
          height: 80,
          fill: "transparent",
          stroke_color: "#fde047",
          stroke_width: 8,
        },
        { type: "rect", name: "glass", x: 120, y: 110, width: 110, height: 80, fill: "#ffffff55", radius: 10 },
        { type: "rect", name: "faded", x: 140, y: 130, width: 110, height: 80, fill: "#ef4444", opacity: 0.5 },
        {
          type: "rect",
          name: "tilted",
          x: 270,
          y: 120,
          width: 100,
          height: 40,
          fill: "#a855f7",
          radius: 8,
          rotation: 30,
        },
        {
          type: "ellipse",
          name: "tilted-ellipse",
          x: 270,
          y: 185,
          width: 110,
          height: 40,
          fill: "#14b8a6",
          rotation: -20,
          stroke_color: "#ffffff",
          stroke_width: 2,
        },
        { type: "rect", name: "hidden", x: 0, y: 0, width: 400, height: 260, fill: "#000000", hidden: true },
      ],
    }),
  },
  {
    // Horizontal gradient (90 = left to right) under a vertical one (180 = top to bottom) drawn by
    // rects is not possible, so two small canvases: this one goes left to right with a hard stop.
    name: "gradient-horizontal-hard-stop",
    doc: () => ({
      width: 240,
      height: 80,
      background: {
        type: "linear_gradient",
        angle: 90,
        stops: [
          { color: "#22c55e", offset: 0 },
          { color: "#22c55e", offset: 0.3 },
          { color: "#3b82f6", offset: 0.3 },
          { color: "#f43f5e", offset: 1 },
        ],
      },
    }),
  },
  {
    // Transparent PNG: a gradient that fades to transparent (premultiplied: no grey band), a
    // translucent ellipse, text, and an image with an alpha channel.
    name: "transparent",
    doc: () => ({
      width: 300,
      height: 200,
      background: {
        type: "linear_gradient",
        angle: 180,
        stops: [
          { color: "#2563eb", offset: 0 },
          { color: "transparent", offset: 1 },
        ],
      },
      layers: [
        { type: "ellipse", name: "blob", x: 160, y: 20, width: 120, height: 120, fill: "#f9731680" },
        {
          type: "image",
          name: "logo",
          x: 20,
          y: 20,
          width: 100,
          height: 100,
          image_url: `${base}/logo.png`,
          fit: "contain",
        },
        {
          type: "text",
          name: "t",
          x: 20,
          y: 140,
          width: 260,
          height: 50,
          text: "Transparent PNG",
          font_size: 28,
          font_weight: 700,
          color: "#111827",
        },
      ],
    }),
  },
  {
    // Image background (cover), text with a translucent background colour.
    name: "background-image",
    doc: () => ({
      width: 320,
      height: 200,
      background: { type: "image", image_url: `${base}/landscape.jpg`, fit: "cover" },
      layers: [
        {
          type: "text",
          name: "caption",
          x: 20,
          y: 120,
          width: 280,
          height: 60,
          text: "Image background",
          font_size: 26,
          font_weight: 700,
          color: "#ffffff",
          background_color: "#0f172acc",
          align: "center",
          vertical_align: "middle",
        },
      ],
    }),
  },
  {
    // contain leaves the letterbox transparent (PNG keeps it).
    name: "background-image-contain",
    doc: () => ({
      width: 300,
      height: 120,
      background: { type: "image", image_url: `${base}/landscape.jpg`, fit: "contain" },
    }),
  },
  {
    // Image layers: fits, focal points, radius (rounded and circle), opacity, rotation, placeholder.
    name: "images",
    doc: () => ({
      width: 400,
      height: 300,
      background: "#e2e8f0",
      layers: [
        { type: "image", name: "cover", x: 10, y: 10, width: 120, height: 80, image_url: `${base}/landscape.jpg` },
        {
          type: "image",
          name: "contain",
          x: 140,
          y: 10,
          width: 120,
          height: 80,
          image_url: `${base}/landscape.jpg`,
          fit: "contain",
        },
        {
          type: "image",
          name: "fill",
          x: 270,
          y: 10,
          width: 120,
          height: 80,
          image_url: `${base}/landscape.jpg`,
          fit: "fill",
        },
        {
          type: "image",
          name: "focal-top",
          x: 10,
          y: 100,
          width: 80,
          height: 80,
          image_url: `${base}/portrait.png`,
          focal_y: 0,
        },
        {
          type: "image",
          name: "focal-centre",
          x: 100,
          y: 100,
          width: 80,
          height: 80,
          image_url: `${base}/portrait.png`,
        },
        {
          type: "image",
          name: "focal-bottom",
          x: 190,
          y: 100,
          width: 80,
          height: 80,
          image_url: `${base}/portrait.png`,
          focal_y: 1,
        },
        {
          type: "image",
          name: "focal-left",
          x: 280,
          y: 100,
          width: 50,
          height: 80,
          image_url: `${base}/landscape.jpg`,
          focal_x: 0,
        },
        {
          type: "image",
          name: "focal-right",
          x: 340,
          y: 100,
          width: 50,
          height: 80,
          image_url: `${base}/landscape.jpg`,
          focal_x: 1,
        },
        {
          type: "image",
          name: "rounded",
          x: 10,
          y: 200,
          width: 110,
          height: 90,
          image_url: `${base}/landscape.jpg`,
          radius: 20,
        },
        {
          type: "image",
          name: "circle",
          x: 130,
          y: 200,
          width: 90,
          height: 90,
          image_url: `${base}/landscape.jpg`,
          radius: 45,
        },
        {
          type: "image",
          name: "faded",
          x: 230,
          y: 200,
          width: 70,
          height: 90,
          image_url: `${base}/portrait.png`,
          opacity: 0.4,
        },
        {
          type: "image",
          name: "tilted",
          x: 300,
          y: 205,
          width: 80,
          height: 60,
          image_url: `${base}/landscape.jpg`,
          rotation: 15,
          radius: 10,
        },
        {
          type: "image",
          name: "placeholder",
          x: 330,
          y: 270,
          width: 60,
          height: 24,
          placeholder_color: "#64748b",
          radius: 12,
        },
      ],
    }),
  },
  {
    // Alignment: every align x vertical_align combination, boxes shown by background_color.
    name: "text-align",
    doc: () => ({
      width: 390,
      height: 270,
      background: "#ffffff",
      layers: (["top", "middle", "bottom"] as const).flatMap((vertical_align, row) =>
        (["left", "center", "right"] as const).map((align, col) => ({
          type: "text",
          name: `${align}-${vertical_align}`,
          x: 10 + col * 128,
          y: 10 + row * 86,
          width: 114,
          height: 76,
          text: `${align}\n${vertical_align}`,
          font_size: 18,
          color: "#0f172a",
          background_color: "#bae6fd",
          align,
          vertical_align,
        })),
      ),
    }),
  },
  {
    // Every shipped family, weights 100-900 (JetBrains Mono has no 900: 800 is used), italics.
    name: "text-fonts",
    doc: () => {
      const rows: [string, number, string][] = [
        ["Inter", 100, "normal"],
        ["Inter", 300, "normal"],
        ["Inter", 500, "normal"],
        ["Inter", 700, "normal"],
        ["Inter", 900, "normal"],
        ["Inter", 400, "italic"],
        ["Noto Serif", 200, "normal"],
        ["Noto Serif", 400, "normal"],
        ["Noto Serif", 600, "normal"],
        ["Noto Serif", 800, "italic"],
        ["JetBrains Mono", 400, "normal"],
        ["JetBrains Mono", 900, "normal"],
        ["JetBrains Mono", 300, "italic"],
      ];
      return {
        width: 400,
        height: 300,
        background: "#fffbeb",
        layers: rows.map(([font_family, font_weight, font_style], i) => ({
          type: "text",
          name: `r${i}`,
          x: 10,
          y: 6 + i * 22,
          width: 380,
          height: 22,
          font_size: 17,
          color: "#1c1917",
          font_family,
          font_weight,
          font_style,
          text: `${font_family} ${font_weight} ${font_style} Hamburgefonstiv 0123`,
        })),
      };
    },
  },
  {
    // Letter spacing (positive, negative), line heights, upper/lower case.
    name: "text-spacing",
    doc: () => ({
      width: 400,
      height: 280,
      background: "#f8fafc",
      layers: [
        {
          type: "text",
          name: "ls0",
          x: 10,
          y: 10,
          width: 380,
          height: 30,
          text: "Letter spacing 0",
          font_size: 22,
          color: "#0f172a",
        },
        {
          type: "text",
          name: "ls6",
          x: 10,
          y: 40,
          width: 380,
          height: 30,
          text: "Letter spacing 6px",
          font_size: 22,
          letter_spacing: 6,
          color: "#0f172a",
        },
        {
          type: "text",
          name: "ls-1",
          x: 10,
          y: 70,
          width: 380,
          height: 30,
          text: "Letter spacing -1.5px",
          font_size: 22,
          letter_spacing: -1.5,
          color: "#0f172a",
        },
        {
          type: "text",
          name: "tight",
          x: 10,
          y: 110,
          width: 185,
          height: 80,
          text: "Line height 0.9 gives tight lines",
          font_size: 20,
          line_height: 0.9,
          color: "#7c2d12",
          background_color: "#fed7aa",
        },
        {
          type: "text",
          name: "loose",
          x: 205,
          y: 110,
          width: 185,
          height: 80,
          text: "Line height 1.6 is airy",
          font_size: 20,
          line_height: 1.6,
          color: "#14532d",
          background_color: "#bbf7d0",
        },
        {
          type: "text",
          name: "upper",
          x: 10,
          y: 205,
          width: 380,
          height: 30,
          text: "uppercase transform, wide",
          font_size: 20,
          text_transform: "uppercase",
          letter_spacing: 2,
          font_weight: 600,
          color: "#1e3a8a",
        },
        {
          type: "text",
          name: "lower",
          x: 10,
          y: 240,
          width: 380,
          height: 30,
          text: "LOWERCASE Transform",
          font_size: 20,
          text_transform: "lowercase",
          color: "#1e3a8a",
        },
      ],
    }),
  },
  {
    // Fitting: max_lines with an ellipsis, auto_fit shrinking long text, auto_fit keeping short text,
    // overflow without auto_fit cut at the last line that fits, auto_fit bottoming out at min size.
    name: "text-fit",
    doc: () => ({
      width: 400,
      height: 300,
      background: "#ffffff",
      layers: [
        {
          type: "text",
          name: "max-lines",
          x: 10,
          y: 10,
          width: 185,
          height: 135,
          text: LOREM,
          font_size: 18,
          max_lines: 2,
          color: "#0f172a",
          background_color: "#e0e7ff",
        },
        {
          type: "text",
          name: "auto-long",
          x: 205,
          y: 10,
          width: 185,
          height: 135,
          text: LOREM,
          font_size: 40,
          auto_fit: true,
          min_font_size: 8,
          color: "#0f172a",
          background_color: "#dcfce7",
        },
        {
          type: "text",
          name: "auto-short",
          x: 10,
          y: 155,
          width: 185,
          height: 60,
          text: "Short",
          font_size: 40,
          auto_fit: true,
          min_font_size: 10,
          color: "#0f172a",
          background_color: "#fef9c3",
        },
        {
          type: "text",
          name: "overflow",
          x: 205,
          y: 155,
          width: 185,
          height: 60,
          text: LOREM,
          font_size: 20,
          color: "#0f172a",
          background_color: "#fee2e2",
        },
        {
          type: "text",
          name: "auto-min",
          x: 10,
          y: 225,
          width: 380,
          height: 65,
          text: `${LOREM}. ${LOREM}. ${LOREM}.`,
          font_size: 30,
          auto_fit: true,
          min_font_size: 16,
          color: "#0f172a",
          background_color: "#f3e8ff",
          vertical_align: "middle",
        },
      ],
    }),
  },
  {
    // Rotation of every layer type around its box centre, a rotated layer partly off the canvas.
    name: "rotation",
    doc: () => ({
      width: 320,
      height: 240,
      background: "#1e293b",
      layers: [
        {
          type: "text",
          name: "ribbon",
          x: 210,
          y: 30,
          width: 150,
          height: 30,
          text: "NEW",
          font_size: 18,
          font_weight: 800,
          letter_spacing: 2,
          color: "#ffffff",
          background_color: "#dc2626",
          align: "center",
          vertical_align: "middle",
          rotation: 45,
        },
        {
          type: "image",
          name: "photo",
          x: 30,
          y: 30,
          width: 120,
          height: 90,
          image_url: `${base}/landscape.jpg`,
          rotation: -10,
          radius: 12,
        },
        { type: "ellipse", name: "ellipse", x: 170, y: 120, width: 100, height: 50, fill: "#fbbf24", rotation: 60 },
        {
          type: "rect",
          name: "frame",
          x: 40,
          y: 150,
          width: 110,
          height: 60,
          fill: "transparent",
          stroke_color: "#38bdf8",
          stroke_width: 5,
          radius: 10,
          rotation: 90,
        },
        {
          type: "text",
          name: "vertical",
          x: -40,
          y: 100,
          width: 140,
          height: 26,
          text: "Rotated -90",
          font_size: 18,
          color: "#a7f3d0",
          rotation: -90,
          align: "center",
        },
      ],
    }),
  },
  {
    // scale = 2: a 180x120 document drawn at 360x240 (text drawn at 2x, not upscaled).
    name: "scale-2x",
    opts: { scale: 2 },
    doc: () => ({
      width: 180,
      height: 120,
      background: {
        type: "linear_gradient",
        angle: 180,
        stops: [
          { color: "#ecfeff", offset: 0 },
          { color: "#a5f3fc", offset: 1 },
        ],
      },
      layers: [
        {
          type: "image",
          name: "avatar",
          x: 10,
          y: 10,
          width: 50,
          height: 50,
          image_url: `${base}/landscape.jpg`,
          radius: 25,
        },
        {
          type: "text",
          name: "name",
          x: 70,
          y: 14,
          width: 100,
          height: 44,
          text: "Retina text stays sharp",
          font_size: 14,
          font_weight: 600,
          color: "#164e63",
          max_lines: 2,
        },
        {
          type: "rect",
          name: "button",
          x: 10,
          y: 75,
          width: 160,
          height: 34,
          fill: "#0e7490",
          radius: 17,
          stroke_color: "#164e63",
          stroke_width: 1,
        },
        {
          type: "text",
          name: "label",
          x: 10,
          y: 75,
          width: 160,
          height: 34,
          text: "Follow",
          font_size: 15,
          font_weight: 700,
          color: "#ffffff",
          align: "center",
          vertical_align: "middle",
          letter_spacing: 0.5,
        },
      ],
    }),
  },
];

const rgba = (png: Buffer) => readPixels(png, { alpha: true });

describe("golden images", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (name, c) => {
    const out = await renderTemplate(TemplateDocument.parse(c.doc()), {
      format: "png",
      allowPrivateNetworks: true,
      ...c.opts,
    });
    const file = path.join(GOLDEN_DIR, `${name}.png`);
    if (UPDATE || !existsSync(file)) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      // Same pixels, compressed harder: the repository stays light.
      writeFileSync(file, await sharp(out.buffer).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer());
      console.warn(
        `golden ${path.relative(process.cwd(), file)} ${UPDATE ? "updated" : "was missing: written"}; look at it before checking it in`,
      );
      return;
    }
    const actual = await rgba(out.buffer);
    const expected = await rgba(await sharp(file).toBuffer());
    expect([actual.width, actual.height], "size").toEqual([expected.width, expected.height]);
    const diff = Buffer.alloc(actual.width * actual.height * 4);
    const differing = pixelmatch(actual.data, expected.data, diff, actual.width, actual.height, { threshold: 0.1 });
    const allowed = Math.floor(actual.width * actual.height * MAX_DIFF_RATIO);
    if (differing > allowed) {
      const dir = path.join(os.tmpdir(), "templified-golden");
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${name}.actual.png`), out.buffer);
      await sharp(diff, { raw: { width: actual.width, height: actual.height, channels: 4 } })
        .png()
        .toFile(path.join(dir, `${name}.diff.png`));
      expect.fail(`${name}: ${differing} pixels differ (allowed ${allowed}); actual and diff written to ${dir}`);
    }
  });
});
