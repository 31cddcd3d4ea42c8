// The renderer, for real: sharp renders, images fetched over HTTP from a local server, pixels read
// back with sharp. No mocks.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  configureImageCache,
  contentTypeFor,
  fetchImage,
  isPublicAddress,
  RenderError,
  renderTemplate,
  type RenderOptions,
} from "../src/render/index.js";
import { TemplateDocument, type OutputFormat } from "../src/templates/document.js";

const PHOTO_RGB = [32, 128, 255] as const;
let photo: Buffer;
let server: Server;
let base: string;
let refusedBase: string;

beforeAll(async () => {
  configureImageCache({ ttlMs: 0 }); // every render fetches: the error tests need real requests
  // A 2000x1500 JPEG: solid blue with a 200 px orange band at the top (to check cover cropping).
  photo = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: { r: PHOTO_RGB[0], g: PHOTO_RGB[1], b: PHOTO_RGB[2] } } })
    .composite([{ input: { create: { width: 2000, height: 200, channels: 3, background: "#ff8000" } }, left: 0, top: 0 }])
    .jpeg({ quality: 90 })
    .toBuffer();
  const big = Buffer.alloc(2 * 1024 * 1024, 7);
  server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/photo.jpg") res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    else if (url === "/broken.jpg") res.writeHead(200, { "content-type": "image/jpeg" }).end("this is not a jpeg");
    else if (url === "/huge-declared") res.writeHead(200, { "content-length": big.length }).end(big);
    else if (url === "/huge-chunked") {
      res.writeHead(200, { "content-type": "image/jpeg" }); // no Content-Length: the cap must hold while streaming
      let sent = 0;
      const pump = () => {
        while (sent < big.length) {
          sent += 64 * 1024;
          if (!res.write(big.subarray(0, 64 * 1024))) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      res.on("error", () => {});
    } else if (url === "/slow") {
      /* never answers */
    } else if (url.startsWith("/redirect/")) {
      const hops = Number(url.split("/")[2]);
      res.writeHead(302, { location: hops > 1 ? `/redirect/${hops - 1}` : "/photo.jpg" }).end();
    } else if (url === "/to-ftp") res.writeHead(302, { location: "ftp://127.0.0.1/photo.jpg" }).end();
    else if (url === "/gigapixel.svg") {
      res.writeHead(200, { "content-type": "image/svg+xml" }).end('<svg xmlns="http://www.w3.org/2000/svg" width="10000" height="6000"/>');
    } else res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: bind, note it, close.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  refusedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  configureImageCache();
});

const LOCAL: Omit<RenderOptions, "format"> = { allowPrivateNetworks: true };

function doc(input: unknown): TemplateDocument {
  return TemplateDocument.parse(input);
}

async function pixels(buffer: Buffer) {
  const { data, info } = await sharp(buffer).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number): [number, number, number] => {
    const i = (y * info.width + x) * info.channels;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
  /** Bounding box of pixels differing from `bg` by more than `threshold` (sum of channel deltas). */
  const inkBox = (bg: readonly number[], threshold = 90, region = { x0: 0, y0: 0, x1: info.width, y1: info.height }) => {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    let count = 0;
    for (let y = region.y0; y < region.y1; y++) {
      for (let x = region.x0; x < region.x1; x++) {
        const [r, g, b] = at(x, y);
        if (Math.abs(r - bg[0]!) + Math.abs(g - bg[1]!) + Math.abs(b - bg[2]!) > threshold) {
          count++;
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    return { count, minX, minY, maxX, maxY };
  };
  return { at, inkBox, width: info.width, height: info.height };
}

function expectColor(actual: readonly number[], expected: readonly number[], tolerance = 6) {
  const ok = actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
  expect(ok, `colour ${JSON.stringify(actual)} should be within ${tolerance} of ${JSON.stringify(expected)}`).toBe(true);
}

async function renderError(input: TemplateDocument, opts: Partial<RenderOptions> = {}): Promise<RenderError> {
  const err = await renderTemplate(input, { format: "png", ...LOCAL, ...opts }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RenderError);
  return err as RenderError;
}

const BG = [0x10, 0x20, 0x30] as const;
const card = () =>
  doc({
    width: 800,
    height: 400,
    background: "#102030",
    layers: [
      // Partly off-canvas to the left: x -100..300.
      { type: "image", name: "photo", x: -100, y: 50, width: 400, height: 300, fit: "cover", image_url: `${base}/photo.jpg` },
      { type: "rect", name: "box", x: 450, y: 40, width: 300, height: 100, fill: "#ff0000", radius: 20, stroke_color: "#00ff00", stroke_width: 6 },
      { type: "rect", name: "ghost", x: 0, y: 360, width: 800, height: 40, fill: "#ffff00", hidden: true },
      {
        type: "text", name: "title", x: 420, y: 180, width: 360, height: 120, text: "Hello", font_size: 48,
        font_weight: 700, color: "#ffffff", align: "center", vertical_align: "middle",
      },
    ],
  });

describe("renderTemplate: a card with every layer type", () => {
  it.each(["png", "jpeg", "webp"] as OutputFormat[])("renders %s with the right size, format and content type", async (format) => {
    const out = await renderTemplate(card(), { format, ...LOCAL });
    expect(out).toMatchObject({ width: 800, height: 400, format, contentType: contentTypeFor(format) });
    const meta = await sharp(out.buffer).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 800, 400]);
  });

  it("draws background, rect fill and stroke, the photo, and centred text inside its box", async () => {
    const out = await renderTemplate(card(), { format: "png", ...LOCAL });
    const px = await pixels(out.buffer);
    expectColor(px.at(790, 390), BG, 0); // background
    expectColor(px.at(10, 20), BG, 0); // above the photo
    expectColor(px.at(600, 90), [255, 0, 0], 0); // rect fill
    expectColor(px.at(452, 90), [0, 255, 0], 0); // stroke, drawn inside the box edge
    expectColor(px.at(447, 90), BG, 0); // ... and not outside it
    expectColor(px.at(451, 41), BG, 0); // rounded corner
    expectColor(px.at(150, 250), PHOTO_RGB, 8); // inside the photo (cover keeps the centre)
    expectColor(px.at(2, 250), PHOTO_RGB, 8); // the on-canvas part of a layer that starts off-canvas
    expectColor(px.at(310, 250), BG, 0); // right of the photo box
    expectColor(px.at(400, 380), BG, 0); // the hidden layer drew nothing

    const box = { x0: 420, y0: 180, x1: 780, y1: 300 };
    const ink = px.inkBox(BG, 200, box);
    expect(ink.count).toBeGreaterThan(300);
    expect(Math.abs((ink.minX + ink.maxX) / 2 - 600)).toBeLessThanOrEqual(4); // centred horizontally
    expect(Math.abs((ink.minY + ink.maxY) / 2 - 240)).toBeLessThanOrEqual(12); // and roughly vertically
    // No text ink around the box (the rect is above it, the photo to the left).
    const around = px.inkBox(BG, 60, { x0: 320, y0: 150, x1: 800, y1: 360 });
    expect(around.minX).toBeGreaterThanOrEqual(box.x0);
    expect(around.maxX).toBeLessThan(box.x1);
    expect(around.minY).toBeGreaterThanOrEqual(box.y0);
    expect(around.maxY).toBeLessThan(box.y1);
  });

  it("fits images: cover crops, contain letterboxes with transparency, fill stretches", async () => {
    const layout = (fit: string) =>
      doc({ width: 300, height: 300, background: "#000000", layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 300, height: 300, fit, image_url: `${base}/photo.jpg` }] });
    const cover = await pixels((await renderTemplate(layout("cover"), { format: "png", ...LOCAL })).buffer);
    // 4:3 cropped to 1:1 keeps the full height, so the band keeps its 200/1500 share (40 px).
    expectColor(cover.at(150, 20), [255, 128, 0], 10);
    expectColor(cover.at(150, 60), PHOTO_RGB, 8);
    const contain = await pixels((await renderTemplate(layout("contain"), { format: "png", ...LOCAL })).buffer);
    expectColor(contain.at(150, 10), [0, 0, 0], 0); // letterbox shows the background
    expectColor(contain.at(150, 200), PHOTO_RGB, 8);
    const fill = await pixels((await renderTemplate(layout("fill"), { format: "png", ...LOCAL })).buffer);
    expectColor(fill.at(150, 20), [255, 128, 0], 10);
    expectColor(fill.at(150, 290), PHOTO_RGB, 8);
  });

  it("fills an image layer without a URL with its placeholder colour, and applies opacity", async () => {
    const out = await renderTemplate(
      doc({
        width: 100,
        height: 50,
        background: "#000000",
        layers: [
          { type: "image", name: "slot", x: 0, y: 0, width: 50, height: 50, placeholder_color: "#cbd5e1" },
          { type: "rect", name: "half", x: 50, y: 0, width: 50, height: 50, fill: "#ffffff", opacity: 0.5 },
        ],
      }),
      { format: "png" },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(25, 25), [0xcb, 0xd5, 0xe1], 0);
    expectColor(px.at(75, 25), [128, 128, 128], 1);
  });

  it("keeps transparency in PNG when the background is transparent, and flattens JPEG onto white", async () => {
    const input = doc({ width: 20, height: 20, background: "#00000000", layers: [] });
    const png = await renderTemplate(input, { format: "png" });
    const { data } = await sharp(png.buffer).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(0);
    const jpeg = await pixels((await renderTemplate(input, { format: "jpeg" })).buffer);
    expectColor(jpeg.at(10, 10), [255, 255, 255], 2);
  });

  it("crops layers that lie partly or wholly outside the canvas instead of failing", async () => {
    const out = await renderTemplate(
      doc({
        width: 200,
        height: 100,
        background: "#000000",
        layers: [
          { type: "rect", name: "off", x: 5000, y: 5000, width: 100, height: 100, fill: "#ffffff" },
          { type: "rect", name: "huge", x: -5000, y: 50, width: 10000, height: 10000, fill: "#00ff00", radius: 40, stroke_color: "#ff0000", stroke_width: 4 },
          { type: "image", name: "corner", x: 150, y: -80, width: 200, height: 150, image_url: `${base}/photo.jpg` },
          { type: "text", name: "edge", x: -30, y: 0, width: 300, height: 50, text: "Overflowing text at the edge", font_size: 30, color: "#ffffff" },
        ],
      }),
      { format: "png", ...LOCAL },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(100, 80), [0, 255, 0], 0);
    expectColor(px.at(190, 40), PHOTO_RGB, 8);
  });
});

describe("text layers", () => {
  const textDoc = (layer: Record<string, unknown>, size = { width: 600, height: 300 }) =>
    doc({ ...size, background: "#000000", layers: [{ type: "text", name: "t", x: 50, y: 50, width: 500, height: 200, color: "#ffffff", font_size: 40, ...layer }] });
  const inkOf = async (layer: Record<string, unknown>) =>
    (await pixels((await renderTemplate(textDoc(layer), { format: "png" })).buffer)).inkBox([0, 0, 0], 120);

  it("aligns left, centre and right within the box", async () => {
    const left = await inkOf({ text: "Align", align: "left" });
    const center = await inkOf({ text: "Align", align: "center" });
    const right = await inkOf({ text: "Align", align: "right" });
    expect(left.minX).toBeGreaterThanOrEqual(50);
    expect(left.minX).toBeLessThanOrEqual(54);
    expect(right.maxX).toBeLessThan(550);
    expect(right.maxX).toBeGreaterThanOrEqual(545);
    expect(Math.abs((center.minX + center.maxX) / 2 - 300)).toBeLessThanOrEqual(3);
    // Same glyphs, just moved.
    expect(center.maxX - center.minX).toBe(left.maxX - left.minX);
  });

  it("aligns top, middle and bottom, with a baseline that does not depend on the glyphs", async () => {
    const top = await inkOf({ text: "Ace", vertical_align: "top", line_height: 1 });
    const middle = await inkOf({ text: "Ace", vertical_align: "middle", line_height: 1 });
    const bottom = await inkOf({ text: "Ace", vertical_align: "bottom", line_height: 1 });
    const lower = await inkOf({ text: "ace", vertical_align: "top", line_height: 1 });
    // Top: the cap height sits below the line box top (ascender space), not glued to the box edge.
    expect(top.minY).toBeGreaterThan(52);
    expect(top.minY).toBeLessThan(70);
    expect(lower.maxY).toBe(top.maxY); // same baseline for "ace" and "Ace"
    expect(lower.minY).toBeGreaterThan(top.minY);
    expect(bottom.maxY).toBeLessThan(250);
    expect(bottom.maxY).toBeGreaterThan(250 - 20); // descent space below the baseline
    expect(Math.abs(middle.maxY - (top.maxY + bottom.maxY) / 2)).toBeLessThanOrEqual(1);
  });

  it("wraps to the box width and never draws outside the box (overflow is cropped)", async () => {
    const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
    for (const vertical_align of ["top", "middle", "bottom"]) {
      const out = await renderTemplate(
        doc({ width: 400, height: 300, background: "#000000", layers: [{ type: "text", name: "t", x: 50, y: 50, width: 300, height: 100, text, font_size: 40, color: "#ffffff", vertical_align }] }),
        { format: "png" },
      );
      const ink = (await pixels(out.buffer)).inkBox([0, 0, 0], 30);
      expect(ink.count).toBeGreaterThan(500);
      expect(ink.minX).toBeGreaterThanOrEqual(50);
      expect(ink.maxX).toBeLessThan(350);
      expect(ink.minY).toBeGreaterThanOrEqual(50);
      expect(ink.maxY).toBeLessThan(150);
    }
  });

  it("renders markup in user text literally: no injection, no error", async () => {
    const plain = await inkOf({ text: "x", line_height: 1 });
    const text = '<span size="100000">x</span> & <b>bold</b> \u0001 "quoted" it\'s &amp;';
    const injected = await inkOf({ text, font_size: 14, line_height: 1 });
    expect(injected.count).toBeGreaterThan(plain.count);
    // All on one line at 14 px: the 100000 (about 98 pt) span was not applied.
    expect(injected.maxY - injected.minY).toBeLessThan(20);
    expect(injected.maxX - injected.minX).toBeGreaterThan(300); // the tags were drawn as characters
  });

  it("draws nothing for empty text, and handles blank lines, tabs and tight line heights", async () => {
    const empty = await inkOf({ text: "" });
    expect(empty.count).toBe(0);
    const blank = await inkOf({ text: "   \n  " });
    expect(blank.count).toBe(0);
    const tight = await inkOf({ text: "gyp\ngyp\tq", line_height: 0.5 });
    expect(tight.count).toBeGreaterThan(100);
  });

  it("uses the shipped fonts: each family and weight renders, and they differ", async () => {
    const widths = new Map<string, number>();
    for (const font_family of ["Inter", "Noto Serif", "JetBrains Mono"]) {
      const regular = await inkOf({ text: "Hamburgefonstiv", font_family, font_weight: 400 });
      const bold = await inkOf({ text: "Hamburgefonstiv", font_family, font_weight: 700 });
      expect(regular.count).toBeGreaterThan(200);
      expect(bold.count, `${font_family} bold has more ink`).toBeGreaterThan(regular.count * 1.1);
      widths.set(font_family, regular.maxX - regular.minX);
    }
    expect(new Set(widths.values()).size, JSON.stringify([...widths])).toBe(3);
  });

  it("draws text in its colour with opacity", async () => {
    const out = await renderTemplate(
      doc({ width: 200, height: 100, background: "#000000", layers: [{ type: "text", name: "t", x: 0, y: 0, width: 200, height: 100, text: "IIII", font_weight: 700, font_size: 80, color: "#ff0000", opacity: 0.5 }] }),
      { format: "png" },
    );
    const px = await pixels(out.buffer);
    let max = [0, 0, 0];
    for (let y = 0; y < 100; y++) for (let x = 0; x < 200; x++) if (px.at(x, y)[0] > max[0]!) max = px.at(x, y);
    expectColor(max, [128, 0, 0], 2);
  });
});

describe("image fetching errors", () => {
  const photoDoc = (url: string) =>
    doc({ width: 100, height: 100, layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 100, height: 100, image_url: url }] });

  it("rejects an HTTP 404 with a clear message", async () => {
    const err = await renderError(photoDoc(`${base}/missing.jpg`));
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toBe(`image layer "photo": could not fetch ${base}/missing.jpg: HTTP 404`);
    expect(err.retryable).toBe(false);
  });

  it("rejects a refused connection", async () => {
    const err = await renderError(photoDoc(`${refusedBase}/photo.jpg`));
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toMatch(/^image layer "photo": could not fetch http:\/\/127\.0\.0\.1:\d+\/photo\.jpg: connection refused$/);
    expect(err.retryable).toBe(true);
  });

  it("rejects bytes that are not an image", async () => {
    const err = await renderError(photoDoc(`${base}/broken.jpg`));
    expect(err.code).toBe("IMAGE_DECODE_FAILED");
    expect(err.message).toMatch(/^image layer "photo": the image at http:\/\/127\.0\.0\.1:\d+\/broken\.jpg could not be decoded/);
  });

  it("rejects bodies over the byte limit, declared or streamed", async () => {
    for (const path of ["/huge-declared", "/huge-chunked"]) {
      const err = await renderError(photoDoc(`${base}${path}`), { maxImageBytes: 1024 * 1024 });
      expect(err.code).toBe("IMAGE_TOO_LARGE");
      expect(err.message).toMatch(/image layer "photo": could not fetch .*: response is .*more than the 1048576-byte limit/);
    }
  });

  it("rejects images over the pixel limit", async () => {
    const err = await renderError(photoDoc(`${base}/gigapixel.svg`));
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.message).toMatch(/10000x6000 pixels, more than the 50-megapixel limit/);
  });

  it("times out", async () => {
    const started = Date.now();
    const err = await renderError(photoDoc(`${base}/slow`), { fetchTimeoutMs: 300 });
    expect(err.message).toMatch(/could not fetch .*\/slow: timed out after 300 ms$/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("follows up to 3 redirects, and no more", async () => {
    const ok = await renderTemplate(photoDoc(`${base}/redirect/3`), { format: "png", ...LOCAL });
    expectColor((await pixels(ok.buffer)).at(50, 80), PHOTO_RGB, 8);
    const err = await renderError(photoDoc(`${base}/redirect/4`));
    expect(err.message).toMatch(/could not fetch .*\/redirect\/4: more than 3 redirects$/);
    const ftp = await renderError(photoDoc(`${base}/to-ftp`));
    expect(ftp.message).toMatch(/unsupported protocol ftp:/);
  });

  it("refuses private addresses unless allowPrivateNetworks is set", async () => {
    const err = await renderError(photoDoc(`${base}/photo.jpg`), { allowPrivateNetworks: false });
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toBe(`image layer "photo": could not fetch ${base}/photo.jpg: address 127.0.0.1 is not public`);
    expect(err.retryable).toBe(false);
    const byName = await renderError(photoDoc(`http://localhost:1/photo.jpg`), { allowPrivateNetworks: false });
    expect(byName.message).toMatch(/address (127\.0\.0\.1|::1) is not public \(resolved from localhost\)/);
    for (const url of ["http://[::ffff:127.0.0.1]:1/x.png", "http://[::1]:1/x.png", "http://169.254.169.254/latest", "http://0x7f000001/x"]) {
      await expect(fetchImage(url)).rejects.toThrow(/is not public/);
    }
  });

  it("classifies addresses", () => {
    const notPublic = [
      "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
      "100.127.255.255", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.1",
      "198.18.0.1", "198.51.100.7", "203.0.113.9", "192.0.0.8",
      "::", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::127.0.0.1", "fe80::1", "fe80::1%eth0",
      "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1", "2001::1", "2002:7f00:1::", "64:ff9b::10.0.0.1", "fec0::1",
      "not an ip",
    ];
    const isPublic = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::"];
    for (const ip of notPublic) expect(isPublicAddress(ip), ip).toBe(false);
    for (const ip of isPublic) expect(isPublicAddress(ip), ip).toBe(true);
  });

  it("reports an invalid document as RENDER_FAILED", async () => {
    const err = await renderError({ width: 0, height: 10, background: "#fff", layers: [] });
    expect(err.code).toBe("RENDER_FAILED");
    expect(err.message).toMatch(/^invalid template document/);
  });
});
