// The renderer: TemplateDocument -> PNG/JPEG/WebP with sharp (libvips).
//
// Every visible layer becomes one raw RGBA overlay already clipped to the canvas (layers may lie
// partly or wholly outside it), with its opacity baked into the alpha channel; the overlays are
// then composited in layer order onto a canvas filled with the background colour, in one libvips
// pipeline, and encoded. Layers are prepared concurrently (image fetches overlap each other and
// the text shaping).
import os from "node:os";
import sharp, { type Metadata } from "sharp";
import { z } from "zod";
import {
  OUTPUT_FORMATS,
  TemplateDocument,
  type ImageLayer,
  type Layer,
  type OutputFormat,
  type RectLayer,
  type TextLayer,
} from "../templates/document.js";
import { RenderError } from "./errors.js";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_IMAGE_BYTES, displayUrl, fetchImage } from "./fetch-image.js";
import { fontFileFor, pangoFontDescription } from "./fonts.js";

export { RenderError, type RenderErrorCode } from "./errors.js";

/** Decoded images larger than this (width x height of the source) are refused. */
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Budget for the (unclipped) Pango layout of one text layer; text far beyond its box is dropped. */
const MAX_TEXT_LAYOUT_PIXELS = 40_000_000;
const ACCEPTED_IMAGE_FORMATS = new Set(["jpeg", "png", "webp", "gif", "avif", "heif", "tiff", "svg"]);

export interface RenderOptions {
  format: OutputFormat;
  /** Let image layers fetch from loopback/private/link-local addresses. Default false. */
  allowPrivateNetworks?: boolean;
  /** Deadline per image fetch (redirects and body included). Default 10 000 ms. */
  fetchTimeoutMs?: number;
  /** Maximum bytes per fetched image. Default 20 MiB. */
  maxImageBytes?: number;
}

export interface RenderResult {
  buffer: Buffer;
  width: number;
  height: number;
  format: OutputFormat;
  contentType: string;
}

const CONTENT_TYPES: Record<OutputFormat, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

export function contentTypeFor(format: OutputFormat): string {
  return CONTENT_TYPES[format];
}

// ---------------------------------------------------------------------------------------------
// sharp / libvips process settings

export interface SharpSettings {
  /** libvips worker threads per image. Default: min(available cores, 4). */
  concurrency?: number;
  /**
   * libvips operation cache. Default off: every render has different inputs, so the cache only
   * holds memory (and file handles) without hits.
   */
  cache?: boolean;
}

let sharpConfigured = false;

/** Apply process-wide sharp settings. Call once at startup; renderTemplate calls it with defaults otherwise. */
export function configureSharp(settings: SharpSettings = {}): void {
  sharp.cache(settings.cache ?? false);
  sharp.concurrency(settings.concurrency ?? Math.max(1, Math.min(os.availableParallelism(), 4)));
  sharpConfigured = true;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

interface Rgba {
  r: number;
  g: number;
  b: number;
  /** 0..1 */
  alpha: number;
}

export function parseHexColor(hex: string): Rgba {
  let h = hex.startsWith("#") ? hex.slice(1) : hex;
  if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join("");
  if (!/^[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(h)) throw new RenderError("RENDER_FAILED", `invalid colour ${hex}`);
  const n = (i: number) => Number.parseInt(h.slice(i, i + 2), 16);
  return { r: n(0), g: n(2), b: n(4), alpha: h.length === 8 ? n(6) / 255 : 1 };
}

/** An integer rectangle in canvas pixels. */
interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The layer's box snapped to whole pixels (edges rounded, so adjacent boxes stay adjacent). */
function layerBox(layer: Layer): Rect {
  const left = Math.round(layer.x);
  const top = Math.round(layer.y);
  return { left, top, width: Math.round(layer.x + layer.width) - left, height: Math.round(layer.y + layer.height) - top };
}

function intersect(a: Rect, b: Rect): Rect | null {
  const left = Math.max(a.left, b.left);
  const top = Math.max(a.top, b.top);
  const right = Math.min(a.left + a.width, b.left + b.width);
  const bottom = Math.min(a.top + a.height, b.top + b.height);
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : null;
}

/** Raw, non-premultiplied RGBA pixels placed at (left, top) on the canvas, fully inside it. */
interface Overlay extends Rect {
  data: Buffer;
}

function solidOverlay(area: Rect, color: Rgba, opacity: number): Overlay | null {
  const alpha = Math.round(color.alpha * opacity * 255);
  if (alpha === 0) return null;
  const data = Buffer.alloc(area.width * area.height * 4, Buffer.from([color.r, color.g, color.b, alpha]));
  return { ...area, data };
}

function applyOpacity(data: Buffer, opacity: number): void {
  if (opacity >= 1) return;
  for (let i = 3; i < data.length; i += 4) data[i] = Math.round(data[i]! * opacity);
}

function layerLabel(layer: Layer): string {
  return `${layer.type} layer "${layer.name}"`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fmt(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

// ---------------------------------------------------------------------------------------------
// rect

async function renderRect(layer: RectLayer, box: Rect, visible: Rect): Promise<Overlay | null> {
  const fill = parseHexColor(layer.fill);
  const stroke = layer.stroke_color && layer.stroke_width > 0 ? parseHexColor(layer.stroke_color) : null;
  const radius = Math.min(layer.radius, box.width / 2, box.height / 2);
  if (!stroke && radius < 0.5) return solidOverlay(visible, fill, layer.opacity);

  // The stroke is drawn inside the box (inset by half its width), so nothing spills out of it.
  // Only the visible part of the box is rasterised: the viewBox selects it.
  const sw = stroke ? Math.min(layer.stroke_width, box.width / 2, box.height / 2) : 0;
  const paint = (c: Rgba) => `rgb(${c.r},${c.g},${c.b})`;
  let shape: string;
  if (stroke && (box.width - sw * 2 <= 0 || box.height - sw * 2 <= 0)) {
    shape = `<rect x="0" y="0" width="${box.width}" height="${box.height}" rx="${fmt(radius)}" fill="${paint(stroke)}" fill-opacity="${fmt(stroke.alpha)}"/>`;
  } else {
    const inner = Math.max(0, radius - sw / 2);
    const strokeAttrs = stroke
      ? ` stroke="${paint(stroke)}" stroke-opacity="${fmt(stroke.alpha)}" stroke-width="${fmt(sw)}"`
      : "";
    shape =
      `<rect x="${fmt(sw / 2)}" y="${fmt(sw / 2)}" width="${fmt(box.width - sw)}" height="${fmt(box.height - sw)}" ` +
      `rx="${fmt(inner)}" fill="${paint(fill)}" fill-opacity="${fmt(fill.alpha)}"${strokeAttrs}/>`;
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${visible.width}" height="${visible.height}" ` +
    `viewBox="${visible.left - box.left} ${visible.top - box.top} ${visible.width} ${visible.height}">` +
    `<g opacity="${fmt(layer.opacity)}">${shape}</g></svg>`;
  const { data, info } = await sharp(Buffer.from(svg), { density: 72 })
    .ensureAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== visible.width || info.height !== visible.height || info.channels !== 4) {
    throw new Error(`unexpected rect raster ${info.width}x${info.height}x${info.channels}`);
  }
  return { ...visible, data };
}

// ---------------------------------------------------------------------------------------------
// image
//
// Fetched images, decoded and fitted to their box, are kept briefly in memory: the same template
// (same photo/logo URL, same box) is typically rendered many times in a row, and fetch + decode
// dominate render time. Bounded by bytes and age; the key includes everything that decides
// whether and how the image may be fetched and drawn (the private-network rule in particular), so a
// cached entry can never bypass a check the current render would apply.

export interface ImageCacheSettings {
  /** Entry lifetime; 0 disables the cache. Default 60 000 ms. */
  ttlMs?: number;
  /** Total pixel bytes kept. Default 64 MiB. */
  maxBytes?: number;
}

interface CachedImage {
  data: Buffer; // raw RGBA before layer opacity; never mutated
  sourceBytes: number;
  expires: number;
}

const imageCache = new Map<string, CachedImage>();
let imageCacheBytes = 0;
let imageCacheTtlMs = 60_000;
let imageCacheMaxBytes = 64 * 1024 * 1024;

/** Set (and clear) the decoded-image cache. */
export function configureImageCache(settings: ImageCacheSettings = {}): void {
  imageCacheTtlMs = settings.ttlMs ?? 60_000;
  imageCacheMaxBytes = settings.maxBytes ?? 64 * 1024 * 1024;
  imageCache.clear();
  imageCacheBytes = 0;
}

function cacheGet(key: string, maxSourceBytes: number): Buffer | undefined {
  const entry = imageCache.get(key);
  if (!entry) return undefined;
  if (entry.expires <= Date.now() || entry.sourceBytes > maxSourceBytes) {
    if (entry.expires <= Date.now()) cacheDelete(key, entry);
    return undefined;
  }
  imageCache.delete(key); // most recently used goes last
  imageCache.set(key, entry);
  return entry.data;
}

function cacheDelete(key: string, entry: CachedImage): void {
  imageCache.delete(key);
  imageCacheBytes -= entry.data.length;
}

function cachePut(key: string, data: Buffer, sourceBytes: number): void {
  if (imageCacheTtlMs <= 0 || data.length > imageCacheMaxBytes / 4) return;
  const old = imageCache.get(key);
  if (old) cacheDelete(key, old);
  imageCache.set(key, { data, sourceBytes, expires: Date.now() + imageCacheTtlMs });
  imageCacheBytes += data.length;
  for (const [k, entry] of imageCache) {
    if (imageCacheBytes <= imageCacheMaxBytes) break;
    cacheDelete(k, entry);
  }
}

interface RenderContext {
  allowPrivateNetworks: boolean;
  fetchTimeoutMs: number;
  maxImageBytes: number;
  signal: AbortSignal;
}

async function renderImage(layer: ImageLayer, box: Rect, visible: Rect, ctx: RenderContext): Promise<Overlay | null> {
  if (!layer.image_url) return solidOverlay(visible, parseHexColor(layer.placeholder_color), layer.opacity);

  const cacheKey = JSON.stringify([
    layer.image_url,
    ctx.allowPrivateNetworks,
    layer.fit,
    [box.width, box.height],
    [visible.left - box.left, visible.top - box.top, visible.width, visible.height],
  ]);
  const cached = cacheGet(cacheKey, ctx.maxImageBytes);
  if (cached) {
    const data = layer.opacity < 1 ? Buffer.from(cached) : cached;
    applyOpacity(data, layer.opacity);
    return { ...visible, data };
  }

  const label = layerLabel(layer);
  const { body } = await fetchImage(layer.image_url, {
    allowPrivateNetworks: ctx.allowPrivateNetworks,
    timeoutMs: ctx.fetchTimeoutMs,
    maxBytes: ctx.maxImageBytes,
    label,
    signal: ctx.signal,
  });
  const where = `${label}: the image at ${displayUrl(layer.image_url)}`;

  let meta: Metadata;
  try {
    meta = await sharp(body, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: not a supported image (${errorMessage(err)})`, {
      cause: err,
    });
  }
  if (!ACCEPTED_IMAGE_FORMATS.has(meta.format ?? "") || !meta.width || !meta.height) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: unsupported image format ${meta.format ?? "unknown"}`);
  }
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) {
    throw new RenderError(
      "IMAGE_TOO_LARGE",
      `${where} is ${meta.width}x${meta.height} pixels, more than the ${MAX_IMAGE_PIXELS / 1_000_000}-megapixel limit`,
    );
  }

  try {
    let pipeline = sharp(body, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: "error", autoOrient: true }).resize(
      box.width,
      box.height,
      { fit: layer.fit, position: "centre", background: { r: 0, g: 0, b: 0, alpha: 0 } },
    );
    if (visible.width !== box.width || visible.height !== box.height) {
      pipeline = pipeline.extract({
        left: visible.left - box.left,
        top: visible.top - box.top,
        width: visible.width,
        height: visible.height,
      });
    }
    const { data, info } = await pipeline.ensureAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    const depth = (info as { depth?: string }).depth;
    if (info.width !== visible.width || info.height !== visible.height || info.channels !== 4 || (depth && depth !== "uchar")) {
      throw new Error(`unexpected raster ${info.width}x${info.height}x${info.channels} ${depth}`);
    }
    cachePut(cacheKey, data, body.length);
    const out = layer.opacity < 1 ? Buffer.from(data) : data;
    applyOpacity(out, layer.opacity);
    return { ...visible, data: out };
  } catch (err) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: ${errorMessage(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// text
//
// sharp's text input (libvips -> Pango) crops its output to the *ink* extents, so where the
// glyphs sit relative to the layout box is not reported. To place text exactly (stable
// baseline whatever the glyphs, correct alignment), the markup wraps the user's text between two
// invisible sentinel paragraphs:
//   - an "I" with fgalpha=1 (its ink counts for the crop but it paints nothing) and an underline
//     (which spans exactly the run's logical width), so the crop always contains the sentinel's
//     full logical width and the line boxes next to the text;
//   - a pure green background, which Pango paints over the sentinel line's logical box.
// The text itself is painted pure red. In the output, the green rows above/below delimit the
// text block's logical top/bottom, and the green columns give the sentinel line's logical extent,
// from which the layout's x origin follows (left: its start, right: its end, centre: its middle).
// Glyph coverage is red x alpha (premultiplied red), whatever was painted beneath it; the layer
// colour is applied afterwards. When line_height < 1 lines overlap and the bottom sentinel's
// background would paint over the last line's descenders, so the pixels come from a second render
// without that background (same ink, hence the same crop).

const SENTINEL_BG = '<span fgalpha="1" underline="single" background="#00ff00">I</span>';
const SENTINEL_NO_BG = '<span fgalpha="1" underline="single">I</span>';

const MARKUP_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** Make arbitrary user text safe as Pango markup content: escape markup, drop what XML forbids. */
export function escapePangoMarkup(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]/g, "")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replace(/[&<>"']/g, (c) => MARKUP_ESCAPES[c]!);
}

/**
 * Keep the Pango layout bounded: 10 000 characters of 1000 px text would otherwise make a
 * gigantic raster. Generous estimate (glyphs at most 1 em wide, wrapping slack 1.5x); text is
 * only cut when it overflows its box many times over, so visible text is unaffected.
 */
function boundTextForLayout(text: string, fontSize: number, lineHeight: number, wrapWidth: number): string {
  const linePx = fontSize * lineHeight * 1.5;
  const maxLines = MAX_TEXT_LAYOUT_PIXELS / wrapWidth / linePx;
  const linesPerChar = (fontSize * 1.5) / wrapWidth;
  let lines = 1;
  let i = 0;
  for (const ch of text) {
    lines += ch === "\n" ? 1 : linesPerChar;
    if (lines > maxLines) return text.slice(0, i);
    i += ch.length;
  }
  return text;
}

async function pangoRender(markup: string, font: string, fontfile: string, width: number, align: TextLayer["align"]) {
  const { data, info } = await sharp({
    text: { text: markup, font, fontfile, width, align: align === "center" ? "centre" : align, rgba: true, wrap: "word-char" },
  })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`unexpected text raster with ${info.channels} channels`);
  return { data, width: info.width, height: info.height };
}

async function renderText(layer: TextLayer, box: Rect, visible: Rect): Promise<Overlay | null> {
  if (layer.text.length === 0 || layer.text.trim().length === 0) return null;
  const color = parseHexColor(layer.color);
  const alphaScale = color.alpha * layer.opacity;
  if (alphaScale <= 0) return null;

  const wrapWidth = box.width;
  const lineHeight = layer.line_height;
  const text = boundTextForLayout(layer.text, layer.font_size, lineHeight, wrapWidth);
  const font = pangoFontDescription(layer.font_family, layer.font_weight, layer.font_size);
  const fontfile = fontFileFor(layer.font_family, layer.font_weight);
  const body = `<span foreground="#ff0000">${escapePangoMarkup(text)}</span>`;
  const markup = (bottom: string) => `<span line_height="${fmt(lineHeight)}">${SENTINEL_BG}\n${body}\n${bottom}</span>`;

  const measured = await pangoRender(markup(SENTINEL_BG), font, fontfile, wrapWidth, layer.align);
  const { width: W, height: H } = measured;
  const px = measured.data;
  // "inside a sentinel background": green (premultiplied) at least half on.
  const greenAt = (x: number, y: number) => {
    const i = (y * W + x) * 4;
    return px[i + 1]! * px[i + 3]! >= 128 * 255;
  };
  const rowHasGreen = new Uint8Array(H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (greenAt(x, y)) {
        rowHasGreen[y] = 1;
        break;
      }
    }
  }
  // Logical text block rows [textTop, textBottom) and the raster column of the layout's x = 0
  // (the layout is wrapWidth wide; Pango aligned the lines inside it).
  let textTop = 0;
  let textBottom = H;
  let originX = layer.align === "left" ? 0 : layer.align === "right" ? W - wrapWidth : W / 2 - wrapWidth / 2;
  const firstGreen = rowHasGreen.indexOf(1);
  const lastGreen = rowHasGreen.lastIndexOf(1);
  let top = firstGreen;
  while (top >= 0 && top < H && rowHasGreen[top]) top++;
  let bottom = lastGreen;
  while (bottom >= 0 && rowHasGreen[bottom]) bottom--;
  bottom++;
  if (firstGreen >= 0 && bottom > top) {
    textTop = top;
    textBottom = bottom;
    let gx0 = W;
    let gx1 = -1;
    for (let y = firstGreen; y < textTop; y++) {
      for (let x = 0; x < W; x++) {
        if (greenAt(x, y)) {
          if (x < gx0) gx0 = x;
          if (x > gx1) gx1 = x;
        }
      }
    }
    originX =
      layer.align === "left" ? gx0 : layer.align === "right" ? gx1 + 1 - wrapWidth : (gx0 + gx1 + 1) / 2 - wrapWidth / 2;
  }
  // else: tiny font sizes (a few pixels) blur the sentinel line boxes together; the whole raster
  // is then placed as the block, which is off by at most a couple of pixels at such sizes.
  const blockHeight = textBottom - textTop;
  const blockTop =
    layer.vertical_align === "top"
      ? box.top
      : layer.vertical_align === "bottom"
        ? box.top + box.height - blockHeight
        : box.top + (box.height - blockHeight) / 2;
  // canvas = raster + (dx, dy)
  const dx = Math.round(box.left - originX);
  const dy = Math.round(blockTop - textTop);

  // Text never leaves its box: draw only box ∩ canvas ∩ raster.
  const area = intersect(visible, { left: dx, top: dy, width: W, height: H });
  if (!area) return null;

  const pixels = lineHeight < 1 ? (await pangoRender(markup(SENTINEL_NO_BG), font, fontfile, wrapWidth, layer.align)).data : px;
  const out = Buffer.alloc(area.width * area.height * 4);
  const k = alphaScale / 255;
  let anyInk = false;
  for (let y = 0; y < area.height; y++) {
    const srcRow = (area.top - dy + y) * W + (area.left - dx);
    const dstRow = y * area.width;
    for (let x = 0; x < area.width; x++) {
      const s = (srcRow + x) * 4;
      const cov = pixels[s]! * pixels[s + 3]!; // premultiplied red, 0..65025
      if (cov === 0) continue;
      const d = (dstRow + x) * 4;
      out[d] = color.r;
      out[d + 1] = color.g;
      out[d + 2] = color.b;
      out[d + 3] = Math.round(cov * k);
      anyInk = true;
    }
  }
  return anyInk ? { ...area, data: out } : null;
}

// ---------------------------------------------------------------------------------------------
// document

async function renderLayer(layer: Layer, canvas: Rect, ctx: RenderContext): Promise<Overlay | null> {
  const box = layerBox(layer);
  if (box.width <= 0 || box.height <= 0) return null;
  const visible = intersect(box, canvas);
  if (!visible) return null;
  try {
    switch (layer.type) {
      case "rect":
        return await renderRect(layer, box, visible);
      case "image":
        return await renderImage(layer, box, visible, ctx);
      case "text":
        return await renderText(layer, box, visible);
    }
  } catch (err) {
    if (err instanceof RenderError) throw err;
    // Unexpected (libvips/Pango) failure: possibly resource pressure, so worth a retry.
    throw new RenderError("RENDER_FAILED", `${layerLabel(layer)}: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}

/** Render a template document to an image. Rejects with RenderError only. */
export async function renderTemplate(input: TemplateDocument, opts: RenderOptions): Promise<RenderResult> {
  if (!sharpConfigured) configureSharp();
  const format = opts.format;
  if (!OUTPUT_FORMATS.includes(format)) throw new RenderError("RENDER_FAILED", `unsupported output format ${String(format)}`);
  const parsed = TemplateDocument.safeParse(input);
  if (!parsed.success) throw new RenderError("RENDER_FAILED", `invalid template document: ${z.prettifyError(parsed.error)}`);
  const doc = parsed.data;

  const canvas: Rect = { left: 0, top: 0, width: doc.width, height: doc.height };
  const controller = new AbortController();
  const ctx: RenderContext = {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    fetchTimeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxImageBytes: opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
    signal: controller.signal,
  };
  // Prepare all layers concurrently; the first failure aborts pending fetches and is reported.
  let firstError: RenderError | undefined;
  const prepared = await Promise.allSettled(
    doc.layers.map((layer) =>
      layer.hidden || layer.opacity === 0
        ? Promise.resolve(null)
        : renderLayer(layer, canvas, ctx).catch((err: unknown) => {
            firstError ??= err instanceof RenderError ? err : new RenderError("RENDER_FAILED", errorMessage(err), { cause: err, retryable: true });
            controller.abort();
            throw err;
          }),
    ),
  );
  if (firstError !== undefined) throw firstError;
  const overlays = prepared.flatMap((p) => (p.status === "fulfilled" && p.value ? [p.value] : []));

  try {
    let background = parseHexColor(doc.background);
    if (format === "jpeg" && background.alpha < 1) {
      // JPEG has no alpha: the canvas is flattened onto white.
      const a = background.alpha;
      const over = (c: number) => Math.round(c * a + 255 * (1 - a));
      background = { r: over(background.r), g: over(background.g), b: over(background.b), alpha: 1 };
    }
    let image = sharp({
      create: { width: doc.width, height: doc.height, channels: 4, background },
    });
    if (overlays.length > 0) {
      image = image.composite(
        overlays.map((o) => ({ input: o.data, raw: { width: o.width, height: o.height, channels: 4 as const }, left: o.left, top: o.top })),
      );
    }
    // Overlays are composited "over", so an opaque background gives an opaque image.
    if (background.alpha >= 1) image = image.removeAlpha();
    switch (format) {
      case "jpeg":
        image = image.jpeg({ quality: 85, chromaSubsampling: "4:2:0" });
        break;
      case "png":
        image = image.png({ compressionLevel: 6, adaptiveFiltering: false });
        break;
      case "webp":
        image = image.webp({ quality: 85, effort: 2 }); // effort 3+ costs ~25 ms more for ~5% smaller files
        break;
    }
    const buffer = await image.toBuffer();
    return { buffer, width: doc.width, height: doc.height, format, contentType: contentTypeFor(format) };
  } catch (err) {
    throw new RenderError("RENDER_FAILED", `could not encode the ${format} image: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}
