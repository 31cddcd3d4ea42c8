// Regenerates the README examples: test/fixtures/examples/{social-card,social-card-cutout,quote-card,product-card}.png
//   npx tsx test/bench/render-examples.ts [--print]
// Each example is a starter template (test/fixtures/*.template.json) plus the modifications and
// output options of a POST /api/v1/create body (printed with --print). The photos are generated
// here with sharp (no network) and served from a local server; in the bodies they are
// https://example.com/... URLs, rewritten to that server before rendering.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import sharp from "sharp";
import { renderTemplate } from "../../src/render/index.js";
import { TemplateDocument, type OutputFormat } from "../../src/templates/document.js";
import { applyModifications } from "../../src/templates/modifications.js";
import { Modification } from "../../src/views/requests.js";

const here = import.meta.dirname;
const outDir = path.join(here, "../fixtures/examples");

/** A sunset over a mountain lake, 2000x1500, with film grain so it encodes like a photo. */
function mountainLake(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="1500">
    <defs>
      <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
        <stop offset="0" stop-color="#0b1d3a"/><stop offset="0.45" stop-color="#7c3aed"/><stop offset="0.75" stop-color="#f97316"/><stop offset="1" stop-color="#fde68a"/>
      </linearGradient>
      <linearGradient id="lake" x1="0" y1="0" x2="0" y2="1">
        <stop offset="0" stop-color="#f59e0b"/><stop offset="0.25" stop-color="#7c3aed"/><stop offset="1" stop-color="#0b1d3a"/>
      </linearGradient>
      <radialGradient id="glow"><stop offset="0" stop-color="#fef3c7" stop-opacity="1"/><stop offset="1" stop-color="#fef3c7" stop-opacity="0"/></radialGradient>
      <filter id="blur"><feGaussianBlur stdDeviation="18"/></filter>
      <filter id="grain"><feTurbulence type="fractalNoise" baseFrequency="0.9" numOctaves="2" seed="7"/><feColorMatrix type="saturate" values="0"/></filter>
    </defs>
    <rect width="2000" height="1000" fill="url(#sky)"/>
    <circle cx="1380" cy="820" r="330" fill="url(#glow)" opacity="0.8"/>
    <circle cx="1380" cy="820" r="120" fill="#fff7ed"/>
    <path d="M0 900 L260 560 L420 700 L640 420 L900 760 L1100 600 L1350 860 L1560 640 L1800 820 L2000 700 L2000 1000 L0 1000 Z" fill="#4c1d95" opacity="0.85"/>
    <path d="M0 1000 L180 780 L380 900 L600 720 L820 930 L1040 800 L1300 960 L1500 850 L1760 980 L2000 880 L2000 1000 Z" fill="#1e1b4b"/>
    <rect y="1000" width="2000" height="500" fill="url(#lake)"/>
    <ellipse cx="1380" cy="1080" rx="90" ry="260" fill="#fde68a" opacity="0.55" filter="url(#blur)"/>
    <g fill="#0b1026">
      <path d="M80 1500 L180 1080 L280 1500 Z"/><path d="M220 1500 L300 1180 L380 1500 Z"/><path d="M1760 1500 L1860 1040 L1960 1500 Z"/><path d="M1660 1500 L1730 1220 L1800 1500 Z"/>
    </g>
    <rect width="2000" height="1500" filter="url(#grain)" opacity="0.08"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

/** A stylised portrait for the avatar, 800x800. */
function portrait(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800">
    <defs>
      <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#99f6e4"/><stop offset="1" stop-color="#0f766e"/></linearGradient>
      <linearGradient id="dress" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#312e81"/><stop offset="1" stop-color="#1e1b4b"/></linearGradient>
      <radialGradient id="skin" cx="0.45" cy="0.4"><stop offset="0" stop-color="#fde2c8"/><stop offset="1" stop-color="#e5b48f"/></radialGradient>
    </defs>
    <rect width="800" height="800" fill="url(#bg)"/>
    <ellipse cx="400" cy="860" rx="330" ry="260" fill="url(#dress)"/>
    <rect x="352" y="470" width="96" height="130" rx="40" fill="#e5b48f"/>
    <path d="M230 360 C220 170 580 150 570 360 L590 520 C520 470 280 470 210 520 Z" fill="#3f2a1d"/>
    <ellipse cx="400" cy="370" rx="140" ry="165" fill="url(#skin)"/>
    <path d="M258 330 C270 200 540 200 545 330 C480 250 330 250 258 330 Z" fill="#3f2a1d"/>
    <ellipse cx="350" cy="380" rx="14" ry="9" fill="#3f2a1d"/><ellipse cx="452" cy="380" rx="14" ry="9" fill="#3f2a1d"/>
    <path d="M365 450 Q400 470 437 450" stroke="#b45309" stroke-width="6" fill="none" stroke-linecap="round"/>
    <path d="M250 620 Q400 700 550 620" stroke="#fbbf24" stroke-width="10" fill="none"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toBuffer();
}

/** A speckled stoneware mug on a transparent background, 1600x1200 PNG. */
function mug(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="1200">
    <defs>
      <linearGradient id="body" x1="0" y1="0" x2="1" y2="0">
        <stop offset="0" stop-color="#cbd5e1"/><stop offset="0.35" stop-color="#f8fafc"/><stop offset="0.7" stop-color="#e2e8f0"/><stop offset="1" stop-color="#94a3b8"/>
      </linearGradient>
      <filter id="shadow"><feGaussianBlur stdDeviation="30"/></filter>
      <filter id="speckle" x="0" y="0" width="100%" height="100%">
        <feTurbulence type="fractalNoise" baseFrequency="0.35" numOctaves="1" seed="3"/>
        <feColorMatrix type="matrix" values="0 0 0 0 0.2  0 0 0 0 0.16  0 0 0 0 0.12  0 0 0 -9 4.2"/>
        <feComposite operator="in" in2="SourceGraphic"/>
      </filter>
      <clipPath id="cup"><rect x="480" y="300" width="560" height="640" rx="70"/></clipPath>
    </defs>
    <ellipse cx="800" cy="1010" rx="420" ry="60" fill="#0f172a" opacity="0.35" filter="url(#shadow)"/>
    <path d="M1010 430 C1260 430 1260 800 1010 800" stroke="#cbd5e1" stroke-width="70" fill="none" stroke-linecap="round"/>
    <path d="M1010 430 C1260 430 1260 800 1010 800" stroke="#f1f5f9" stroke-width="34" fill="none" stroke-linecap="round"/>
    <rect x="480" y="300" width="560" height="640" rx="70" fill="url(#body)"/>
    <rect x="480" y="300" width="560" height="640" fill="#000" filter="url(#speckle)" clip-path="url(#cup)" opacity="0.9"/>
    <rect x="480" y="300" width="560" height="170" fill="#0f766e" clip-path="url(#cup)"/>
    <ellipse cx="760" cy="306" rx="278" ry="44" fill="#115e59"/>
    <ellipse cx="760" cy="312" rx="246" ry="30" fill="#3f2a1d"/>
  </svg>`;
  return sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
}

interface Example {
  name: string;
  template: string;
  body: { template_id: string; modifications: Modification[]; format: OutputFormat; scale?: number; quality?: number };
}

export const EXAMPLES: Example[] = [
  {
    name: "social-card",
    template: "social-card.template.json",
    body: {
      template_id: "tpl_YOUR_SOCIAL_CARD",
      modifications: [
        { name: "photo", image_url: "https://example.com/photos/mountain-lake.jpg" },
        { name: "title", text: "Chasing the last light over Lake Louise, one frame at a time" },
        { name: "subtitle", text: "A photo essay by Mira Okafor" },
        { name: "badge_text", text: "Travel" },
      ],
      format: "png",
      scale: 0.5,
    },
  },
  {
    // The same card with a real photo whose background is removed (test/fixtures/astronaut.jpg,
    // public domain: test/fixtures/PHOTO-LICENSES.md): the card's gradient shows around the subject.
    name: "social-card-cutout",
    template: "social-card.template.json",
    body: {
      template_id: "tpl_YOUR_SOCIAL_CARD",
      modifications: [
        { name: "photo", image_url: "https://example.com/photos/astronaut.jpg", remove_background: true },
        { name: "title", text: "Eileen Collins, the first woman to command a Space Shuttle" },
        { name: "subtitle", text: "STS-93, July 1999" },
        { name: "badge_text", text: "Space" },
      ],
      format: "png",
      scale: 0.5,
    },
  },
  {
    name: "quote-card",
    template: "quote-card.template.json",
    body: {
      template_id: "tpl_YOUR_QUOTE_CARD",
      modifications: [
        { name: "quote", text: "That brain of mine is something more than merely mortal, as time will show." },
        { name: "author", text: "Ada Lovelace" },
        { name: "role", text: "Mathematician, first programmer" },
        { name: "avatar", image_url: "https://example.com/photos/ada.jpg" },
      ],
      format: "png",
      scale: 0.5,
    },
  },
  {
    name: "product-card",
    template: "product-card.template.json",
    body: {
      template_id: "tpl_YOUR_PRODUCT_CARD",
      modifications: [
        { name: "product", image_url: "https://example.com/photos/mug.png" },
        { name: "name", text: "Stoneware Mug, Speckled Teal Glaze" },
        { name: "description", text: "Hand-thrown in Porto, dishwasher safe, 350 ml. Every piece is one of a kind." },
        { name: "price", text: "$34" },
        { name: "ribbon", text: "New" },
      ],
      format: "png",
      scale: 0.5,
    },
  },
];

async function main() {
  const photos: Record<string, { type: string; body: Buffer }> = {
    "/photos/mountain-lake.jpg": { type: "image/jpeg", body: await mountainLake() },
    "/photos/ada.jpg": { type: "image/jpeg", body: await portrait() },
    "/photos/mug.png": { type: "image/png", body: await mug() },
    "/photos/astronaut.jpg": { type: "image/jpeg", body: readFileSync(path.join(here, "../fixtures/astronaut.jpg")) },
  };
  const server = createServer((req, res) => {
    const photo = photos[req.url ?? ""];
    if (photo) res.writeHead(200, { "content-type": photo.type, "content-length": photo.body.length }).end(photo.body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mkdirSync(outDir, { recursive: true });
  try {
    for (const example of EXAMPLES) {
      const template = TemplateDocument.parse(
        JSON.parse(readFileSync(path.join(here, "../fixtures", example.template), "utf8")),
      );
      const mods = example.body.modifications.map((m) =>
        m.image_url ? { ...m, image_url: m.image_url.replace("https://example.com", local) } : m,
      );
      const doc = applyModifications(template, mods);
      const out = await renderTemplate(doc, {
        format: example.body.format,
        scale: example.body.scale,
        quality: example.body.quality,
        allowPrivateNetworks: true,
      });
      // Same pixels, smaller file for the repository: PNG is lossless, so recompressing harder changes nothing visible.
      const file = path.join(outDir, `${example.name}.png`);
      const buffer =
        example.body.format === "png"
          ? await sharp(out.buffer).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer()
          : out.buffer;
      writeFileSync(file, buffer);
      console.log(
        `${path.relative(process.cwd(), file)}: ${out.width}x${out.height}, ${Math.round(buffer.length / 1024)} KiB`,
      );
      if (process.argv.includes("--print")) console.log(JSON.stringify(example.body, null, 2));
    }
  } finally {
    server.close();
  }
}

await main();
