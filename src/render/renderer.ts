// The renderer: TemplateDocument -> PNG/JPEG/WebP with sharp (libvips).
//
// The document is first scaled (RenderOptions.scale multiplies every length, so text and shapes
// are drawn at the output resolution, never upscaled). The background becomes the base image (a
// colour, cached gradient pixels, or a fetched image as the first overlay); every visible layer
// becomes one raw RGBA overlay already rotated, with its opacity baked into the alpha channel and
// clipped to the canvas (layers may lie partly or wholly outside it). The overlays are
// composited in layer order in one libvips pipeline and encoded. Layers are prepared
// concurrently (image fetches overlap each other and the text shaping).
import { setMaxListeners } from "node:events";
import os from "node:os";
import sharp, { type Sharp } from "sharp";
import { z } from "zod";
import { OUTPUT_FORMATS, TemplateDocument, type Layer, type OutputFormat, type RectLayer } from "../templates/document.js";
import { RenderError } from "./errors.js";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_IMAGE_BYTES } from "./fetch-image.js";
import type { UploadedFontFace } from "./fonts.js";
import { gradientPixels } from "./gradient.js";
import { imagePiece, type ImageFetchContext } from "./images.js";
import { blendOver, neededRegion, parseHexColor, placePiece, type Overlay, type Rect, type Rgba } from "./raster.js";
import { renderShape } from "./shapes.js";
import { renderTextPiece } from "./text.js";

export { RenderError, type RenderErrorCode } from "./errors.js";
export { configureImageCache, MAX_IMAGE_PIXELS, type ImageCacheSettings } from "./images.js";
export { parseHexColor } from "./raster.js";
export { escapePangoMarkup } from "./text.js";

/** Largest output (after scale) the renderer produces, in pixels. */
export const MAX_OUTPUT_PIXELS = 40_000_000;
export const DEFAULT_QUALITY = 85;

/**
 * Encoder settings, chosen for speed at good quality. Measured on the 1200x630 reference card
 * (a photo on half of it), one thread, encode only: PNG zlib level 1 without adaptive filtering
 * ~7 ms (level 2 ~11 ms and ~25% smaller, level 6 ~16 ms; filtering doubles the time); WebP
 * effort 0 ~10 ms (effort 1 ~13 ms and ~9% smaller, the default 4 ~50 ms); JPEG (libjpeg-turbo,
 * Huffman optimisation, 4:2:0) ~4 ms. PNG is lossless whatever the level: only size changes.
 * Quality (JPEG/WebP) is RenderOptions.quality, default 85.
 */
export const ENCODER_SETTINGS = {
  png: { compressionLevel: 1, adaptiveFiltering: false, palette: false },
  webp: { effort: 0, smartSubsample: false },
  jpeg: { chromaSubsampling: "4:2:0", optimiseCoding: true, mozjpeg: false },
} as const;

export interface RenderOptions {
  format: OutputFormat;
  /** 1-100, for jpeg and webp. Default 85. */
  quality?: number;
  /** 0.1-4: the output is width*scale x height*scale, drawn at that size. Default 1. */
  scale?: number;
  /** The organisation's uploaded font faces; consulted before the shipped families. */
  fonts?: readonly UploadedFontFace[];
  /** Let image layers fetch from loopback/private/link-local addresses. Default false. */
  allowPrivateNetworks?: boolean;
  /** Deadline per image fetch (redirects and body included). Default 10 000 ms. */
  fetchTimeoutMs?: number;
  /** Maximum bytes per fetched image. Default 20 MiB. */
  maxImageBytes?: number;
}

export interface RenderResult {
  buffer: Buffer;
  /** Output size in pixels (scale applied). */
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
// document

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function layerLabel(layer: Layer): string {
  return `${layer.type} layer "${layer.name}"`;
}

/** The layer's box snapped to whole pixels (edges rounded, so adjacent boxes stay adjacent). */
function layerBox(layer: Layer): Rect {
  const left = Math.round(layer.x);
  const top = Math.round(layer.y);
  return { left, top, width: Math.round(layer.x + layer.width) - left, height: Math.round(layer.y + layer.height) - top };
}

/** Every length of the document multiplied by `s`. */
export function scaleDocument(doc: TemplateDocument, s: number): TemplateDocument {
  if (s === 1) return doc;
  const layers = doc.layers.map((layer): Layer => {
    const base = { ...layer, x: layer.x * s, y: layer.y * s, width: layer.width * s, height: layer.height * s };
    switch (base.type) {
      case "text":
        return { ...base, font_size: base.font_size * s, min_font_size: base.min_font_size * s, letter_spacing: base.letter_spacing * s };
      case "image":
        return { ...base, radius: base.radius * s };
      case "rect":
        return { ...base, radius: base.radius * s, stroke_width: base.stroke_width * s };
      case "ellipse":
        return { ...base, stroke_width: base.stroke_width * s };
    }
  });
  return { ...doc, width: Math.max(1, Math.round(doc.width * s)), height: Math.max(1, Math.round(doc.height * s)), layers };
}

interface RenderContext extends ImageFetchContext {
  fonts: readonly UploadedFontFace[];
}

async function renderLayer(layer: Layer, canvas: Rect, ctx: RenderContext): Promise<Overlay | null> {
  const box = layerBox(layer);
  if (box.width <= 0 || box.height <= 0) return null;
  try {
    switch (layer.type) {
      case "rect":
      case "ellipse":
        return await renderShape(layer, box, canvas);
      case "image": {
        if (!layer.image_url) {
          const placeholder: RectLayer = { ...layer, type: "rect", fill: layer.placeholder_color, stroke_width: 0 };
          return await renderShape(placeholder, box, canvas);
        }
        const region = neededRegion(box, layer.rotation, canvas);
        if (!region) return null;
        const piece = await imagePiece(
          {
            url: layer.image_url,
            fit: layer.fit,
            focalX: layer.focal_x,
            focalY: layer.focal_y,
            radius: layer.radius,
            width: box.width,
            height: box.height,
            label: layerLabel(layer),
          },
          region,
          ctx,
        );
        return placePiece(piece, box, layer.rotation, layer.opacity, canvas);
      }
      case "text": {
        const region = neededRegion(box, layer.rotation, canvas);
        if (!region) return null;
        const piece = await renderTextPiece(layer, box, region, ctx.fonts);
        return piece && placePiece(piece, box, layer.rotation, layer.opacity, canvas);
      }
    }
  } catch (err) {
    if (err instanceof RenderError) throw err;
    // Unexpected (libvips/Pango) failure: possibly resource pressure, so worth a retry.
    throw new RenderError("RENDER_FAILED", `${layerLabel(layer)}: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}

/** The canvas background: a solid base colour and/or raw base pixels and/or a first overlay. */
interface Base {
  color: Rgba;
  raw?: Buffer;
  overlay?: Overlay;
  opaque: boolean;
}

async function renderBackground(doc: TemplateDocument, canvas: Rect, ctx: RenderContext): Promise<Base> {
  const bg = doc.background;
  if (typeof bg === "string") {
    const color = parseHexColor(bg);
    return { color, opaque: color.alpha >= 1 };
  }
  if (bg.type === "linear_gradient") {
    const { data, opaque } = gradientPixels(bg, canvas.width, canvas.height);
    return { color: { r: 0, g: 0, b: 0, alpha: 0 }, raw: data, opaque };
  }
  try {
    const piece = await imagePiece(
      { url: bg.image_url, fit: bg.fit, focalX: 0.5, focalY: 0.5, radius: 0, width: canvas.width, height: canvas.height, label: "background image" },
      { left: 0, top: 0, width: canvas.width, height: canvas.height },
      ctx,
    );
    // Photos decode opaque; contain (letterbox) and images with alpha may not be.
    return { color: { r: 0, g: 0, b: 0, alpha: 0 }, overlay: piece, opaque: piece.opaque === true };
  } catch (err) {
    if (err instanceof RenderError) throw err;
    throw new RenderError("RENDER_FAILED", `background image: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}

function checkOptions(opts: RenderOptions): { quality: number; scale: number } {
  if (!OUTPUT_FORMATS.includes(opts.format)) throw new RenderError("RENDER_FAILED", `unsupported output format ${String(opts.format)}`);
  const quality = opts.quality ?? DEFAULT_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new RenderError("RENDER_FAILED", `quality must be an integer from 1 to 100, not ${quality}`);
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale) || scale < 0.1 || scale > 4) throw new RenderError("RENDER_FAILED", `scale must be from 0.1 to 4, not ${scale}`);
  return { quality, scale };
}

/** Render a template document to an image. Rejects with RenderError only. */
export async function renderTemplate(input: TemplateDocument, opts: RenderOptions): Promise<RenderResult> {
  if (!sharpConfigured) configureSharp();
  const format = opts.format;
  const { quality, scale } = checkOptions(opts);
  const parsed = TemplateDocument.safeParse(input);
  if (!parsed.success) throw new RenderError("RENDER_FAILED", `invalid template document: ${z.prettifyError(parsed.error)}`);
  const doc = scaleDocument(parsed.data, scale);
  if (doc.width * doc.height > MAX_OUTPUT_PIXELS) {
    throw new RenderError(
      "RENDER_FAILED",
      `the output would be ${doc.width}x${doc.height} pixels, more than the ${MAX_OUTPUT_PIXELS / 1_000_000}-megapixel limit`,
    );
  }

  const canvas: Rect = { left: 0, top: 0, width: doc.width, height: doc.height };
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every image fetch listens to it; 200 layers are allowed
  const ctx: RenderContext = {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    fetchTimeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxImageBytes: opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
    signal: controller.signal,
    fonts: opts.fonts ?? [],
  };
  // Prepare the background and all layers concurrently; the first failure aborts pending
  // fetches and is reported.
  let firstError: RenderError | undefined;
  const fail = (err: unknown): never => {
    firstError ??= err instanceof RenderError ? err : new RenderError("RENDER_FAILED", errorMessage(err), { cause: err, retryable: true });
    controller.abort();
    throw err;
  };
  const [background, ...prepared] = await Promise.allSettled([
    renderBackground(doc, canvas, ctx).catch(fail),
    ...doc.layers.map((layer) =>
      layer.hidden || layer.opacity === 0 ? Promise.resolve(null) : renderLayer(layer, canvas, ctx).catch(fail),
    ),
  ]);
  if (firstError !== undefined) throw firstError;
  if (background?.status !== "fulfilled") throw new RenderError("RENDER_FAILED", "background failed", { retryable: true });
  const base = background.value;
  const overlays = prepared.flatMap((p) => (p.status === "fulfilled" && p.value ? [p.value] : []));

  try {
    // Composite in place on one RGBA canvas (cheaper than libvips' general compositing for a
    // handful of overlays, most of them opaque photos or sparse text).
    // JPEG has no alpha: a background that is not opaque is drawn onto white.
    const ontoWhite = format === "jpeg" && !base.opaque;
    const opaque = base.opaque || ontoWhite;
    let pixels: Buffer;
    let color = base.color;
    if (ontoWhite) {
      const a = color.alpha;
      const over = (c: number) => Math.round(c * a + 255 * (1 - a));
      color = { r: over(color.r), g: over(color.g), b: over(color.b), alpha: 1 };
    }
    if (base.raw && !ontoWhite) pixels = Buffer.from(base.raw);
    else {
      pixels = Buffer.alloc(doc.width * doc.height * 4, Buffer.from([color.r, color.g, color.b, Math.round(color.alpha * 255)]));
      if (base.raw) blendOver(pixels, doc.width, { ...canvas, data: base.raw }, true);
    }
    for (const o of base.overlay ? [base.overlay, ...overlays] : overlays) blendOver(pixels, doc.width, o, opaque);
    let image: Sharp = sharp(pixels, { raw: { width: doc.width, height: doc.height, channels: 4 } });
    // Overlays are composited "over", so an opaque background gives an opaque image.
    if (opaque) image = image.removeAlpha();
    switch (format) {
      case "jpeg":
        image = image.jpeg({ quality, ...ENCODER_SETTINGS.jpeg });
        break;
      case "png":
        image = image.png(ENCODER_SETTINGS.png);
        break;
      case "webp":
        image = image.webp({ quality, ...ENCODER_SETTINGS.webp });
        break;
    }
    const buffer = await image.toBuffer();
    return { buffer, width: doc.width, height: doc.height, format, contentType: contentTypeFor(format) };
  } catch (err) {
    throw new RenderError("RENDER_FAILED", `could not encode the ${format} image: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}
