// The renderer: TemplateDocument -> PNG/JPEG/WebP with sharp (libvips).
//
// The document is first scaled (RenderOptions.scale multiplies every length, so text and shapes
// are drawn at the output resolution, never upscaled). The background becomes the base image (a
// colour, cached gradient pixels, or a fetched image as the first overlay); every visible layer
// becomes one raw RGBA overlay already rotated, with its opacity baked into the alpha channel and
// clipped to the canvas (layers may lie partly or wholly outside it). The overlays are blended
// onto one RGBA canvas in layer order and the canvas is encoded.
//
// Budgets (see budget.ts and renderBudgetProblem in ../templates/document.ts):
// - pixel work: the output size and the layers' coverage are checked before anything is drawn;
// - memory does not grow with the number of layers: layers are prepared in a bounded window (at
//   most PREPARE_AHEAD at once, together covering at most one canvas, except that a single layer
//   always may) and each overlay is blended, then dropped, in layer order as soon as it is ready.
//   Peak: the canvas, the overlay being blended, the window's overlays and one layer's scratch
//   buffers (an image decode, a text raster); the README states the measured budget. Downloads
//   are I/O, not pixels: the next FETCH_AHEAD images are fetched while earlier layers are drawn
//   (the render worker downloads the first ones before it takes a CPU slot: prefetchImages).
//   Background removal is part of getting an image (sources.ts: imageSource), so it happens there
//   too: imagesToFetch puts the images whose background goes first, and prefetchImages cuts them
//   out, waiting for the engine's slot (BACKGROUND_REMOVAL_CONCURRENCY) without a CPU slot held;
// - time: a deadline (RenderOptions.timeoutMs, RENDER_TIMEOUT_MS in the worker) aborts the fetches,
//   kills SVG rasterisers and fails the render with RENDER_TIMEOUT; every libvips pipeline gets the
//   remaining time as its sharp timeout.
import { setMaxListeners } from "node:events";
import os from "node:os";
import sharp, { type Sharp } from "sharp";
import { z } from "zod";
import {
  OUTPUT_FORMATS,
  renderBudgetProblem,
  TemplateDocument,
  type Layer,
  type OutputFormat,
  type RectLayer,
} from "../templates/document.js";
import { drawsImage, layerBox, scaleDocument, visibleArea } from "../templates/layout.js";
import { DEFAULT_RENDER_TIMEOUT_MS, RenderBudget } from "./budget.js";
import { RenderError } from "./errors.js";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_IMAGE_BYTES } from "./fetch-image.js";
import type { UploadedFontFace } from "./fonts.js";
import { gradientPixels } from "./gradient.js";
import { imagePiece, type ImageFetchContext, type ImageSource } from "./images.js";
import { imageSource, imageSourceKey, type ImageToFetch } from "./sources.js";
import { blendOver, neededRegion, parseHexColor, placePiece, type Overlay, type Rect, type Rgba } from "./raster.js";
import { renderShape } from "./shapes.js";
import { renderTextPiece } from "./text.js";

export { configureImageCache, type ImageCacheSettings } from "./images.js";
export type { ImageToFetch } from "./sources.js";
export { MAX_RENDER_SOURCE_PIXELS } from "./budget.js";
export { MAX_SVG_BYTES } from "./svg.js";
const DEFAULT_QUALITY = 85;
/** Layers being prepared or waiting to be blended, at most (besides the area bound). */
const PREPARE_AHEAD = 3;
/** Image downloads started ahead of the layer being blended, at most; and what prefetchImages fetches. */
export const FETCH_AHEAD = 4;

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
  /** Wall-clock budget of the whole render; past it the render fails with RENDER_TIMEOUT. Default 15 000 ms. */
  timeoutMs?: number;
  /**
   * Images downloaded before the render (prefetchImages, with the same options): used instead of
   * downloading them again, and the time their download took counts against `timeoutMs`.
   */
  prefetched?: PrefetchedImages;
  /**
   * Whose render this is (the worker passes the organisation): background removals, a few at a
   * time per process, are shared round-robin by it.
   */
  fairnessKey?: string;
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
interface RenderContext extends ImageFetchContext {
  fonts: readonly UploadedFontFace[];
}

/** A layer's (or the background's) unexpected failure, unless the render already failed. */
function layerFailure(what: string, err: unknown, ctx: RenderContext): RenderError {
  if (err instanceof RenderError) return err;
  // A consequence of the render's failure (timeout, abort): that error, not this one.
  const budgetError = ctx.budget.errorFor(err);
  if (budgetError) return budgetError;
  // Unexpected (libvips/Pango) failure: possibly resource pressure, so worth a retry.
  return new RenderError("RENDER_FAILED", `${what}: ${errorMessage(err)}`, { cause: err, retryable: true });
}

async function renderLayer(
  layer: Layer,
  canvas: Rect,
  ctx: RenderContext,
  source?: Promise<ImageSource>,
): Promise<Overlay | null> {
  const box = layerBox(layer);
  if (box.width <= 0 || box.height <= 0) return null;
  const seconds = () => ctx.budget.sharpSeconds();
  try {
    switch (layer.type) {
      case "rect":
      case "ellipse":
        return await renderShape(layer, box, canvas, seconds());
      case "image": {
        if (!layer.image_url) {
          const placeholder: RectLayer = {
            ...layer,
            type: "rect",
            fill: layer.placeholder_color,
            stroke_width: 0,
            remove_background: false,
          };
          return await renderShape(placeholder, box, canvas, seconds());
        }
        const region = neededRegion(box, layer.rotation, canvas);
        if (!region) return null;
        const image = { url: layer.image_url, label: layerLabel(layer), removeBackground: layer.remove_background };
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
            removeBackground: layer.remove_background,
          },
          region,
          ctx,
          source ?? imageSource(image, ctx),
        );
        ctx.budget.check();
        return placePiece(piece, box, layer.rotation, layer.opacity, canvas);
      }
      case "text": {
        const region = neededRegion(box, layer.rotation, canvas);
        if (!region) return null;
        const piece = await renderTextPiece(layer, box, region, ctx.fonts, seconds);
        ctx.budget.check();
        return piece && placePiece(piece, box, layer.rotation, layer.opacity, canvas);
      }
    }
  } catch (err) {
    throw layerFailure(layerLabel(layer), err, ctx);
  }
}

/** The canvas background: a solid base colour and/or raw base pixels and/or a first overlay. */
interface Base {
  color: Rgba;
  raw?: Buffer;
  overlay?: Overlay;
  opaque: boolean;
}

async function renderBackground(
  doc: TemplateDocument,
  canvas: Rect,
  ctx: RenderContext,
  source?: Promise<ImageSource>,
): Promise<Base> {
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
      {
        url: bg.image_url,
        fit: bg.fit,
        focalX: 0.5,
        focalY: 0.5,
        radius: 0,
        width: canvas.width,
        height: canvas.height,
        label: "background image",
      },
      { left: 0, top: 0, width: canvas.width, height: canvas.height },
      ctx,
      source ?? imageSource({ url: bg.image_url, label: "background image" }, ctx),
    );
    // Photos decode opaque; contain (letterbox) and images with alpha may not be.
    return { color: { r: 0, g: 0, b: 0, alpha: 0 }, overlay: piece, opaque: piece.opaque === true };
  } catch (err) {
    throw layerFailure("background image", err, ctx);
  }
}

function checkOptions(opts: RenderOptions): { quality: number; scale: number; timeoutMs: number } {
  if (!OUTPUT_FORMATS.includes(opts.format))
    throw new RenderError("RENDER_FAILED", `unsupported output format ${String(opts.format)}`);
  const quality = opts.quality ?? DEFAULT_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100)
    throw new RenderError("RENDER_FAILED", `quality must be an integer from 1 to 100, not ${quality}`);
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale) || scale < 0.1 || scale > 4)
    throw new RenderError("RENDER_FAILED", `scale must be from 0.1 to 4, not ${scale}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RENDER_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new RenderError("RENDER_FAILED", `timeoutMs must be a positive number, not ${timeoutMs}`);
  return { quality, scale, timeoutMs };
}

/** One step of the render: the background (first) or a layer, prepared inside the window. */
interface Step {
  /** Canvas pixels its overlay can cover: what the window counts. */
  area: number;
  /** Downloaded (and cut out) ahead of time when set. */
  image?: ImageToFetch;
  source?: Promise<ImageSource>;
  prepare(source: Promise<ImageSource> | undefined): Promise<Base | Overlay | null>;
  pending?: Promise<Base | Overlay | null>;
}

/** The visible part of the layer on the canvas (null: none). */
/** The image the layer downloads, if it is drawn and draws one. */
function layerImage(layer: Layer, canvas: Rect): ImageToFetch | undefined {
  if (!drawsImage(layer, canvas)) return undefined;
  return {
    url: layer.image_url,
    label: layerLabel(layer),
    ...(layer.remove_background ? { removeBackground: true } : {}),
  };
}

function backgroundImage(doc: TemplateDocument): ImageToFetch | undefined {
  const bg = doc.background;
  return typeof bg !== "string" && bg.type === "image" ? { url: bg.image_url, label: "background image" } : undefined;
}

function layerStep(layer: Layer, canvas: Rect, ctx: RenderContext): Step {
  if (layer.hidden || layer.opacity === 0) return { area: 0, prepare: async () => null };
  const visible = visibleArea(layer, canvas);
  const image = layerImage(layer, canvas);
  return {
    area: visible ? visible.width * visible.height : 0,
    ...(image ? { image } : {}),
    prepare: (source) => renderLayer(layer, canvas, ctx, source),
  };
}

function backgroundStep(doc: TemplateDocument, canvas: Rect, ctx: RenderContext): Step {
  const bg = doc.background;
  const image = backgroundImage(doc);
  return {
    area: typeof bg === "string" ? 0 : canvas.width * canvas.height,
    ...(image ? { image } : {}),
    prepare: (source) => renderBackground(doc, canvas, ctx, source),
  };
}

/**
 * Documents imagesToFetch has just validated, and the outcome: renderTemplate, which a render worker
 * calls right after it on the same object, takes it instead of validating the document again.
 */
const checked = new WeakMap<object, ReturnType<typeof TemplateDocument.safeParse>>();

/**
 * The images rendering `input` at `scale` downloads, each source once (a URL, with or without its
 * background), at most `limit`: first those whose background goes (so the removals happen in the
 * I/O stage), then in the order the render needs them. Empty when the render would fail before
 * downloading anything (an invalid document, a budget exceeded: renderTemplate reports it).
 */
export function imagesToFetch(input: TemplateDocument, scale = 1, limit = Infinity): ImageToFetch[] {
  const parsed = TemplateDocument.safeParse(input);
  checked.set(input, parsed);
  if (!parsed.success || !Number.isFinite(scale) || scale < 0.1 || scale > 4 || renderBudgetProblem(parsed.data, scale))
    return [];
  const doc = scaleDocument(parsed.data, scale);
  const canvas: Rect = { left: 0, top: 0, width: doc.width, height: doc.height };
  const out: ImageToFetch[] = [];
  const seen = new Set<string>();
  for (const image of [backgroundImage(doc), ...doc.layers.map((layer) => layerImage(layer, canvas))]) {
    if (!image || seen.has(imageSourceKey(image))) continue;
    seen.add(imageSourceKey(image));
    out.push(image);
  }
  // A stable sort: the order among the cut-outs, and among the others, stays the render's.
  return out.sort((a, b) => Number(b.removeBackground === true) - Number(a.removeBackground === true)).slice(0, limit);
}

/** Images downloaded ahead of a render (see prefetchImages), for RenderOptions.prefetched. */
export interface PrefetchedImages {
  /** By imageSourceKey: the downloaded bytes, or the cut-out. */
  sources: ReadonlyMap<string, ImageSource>;
  /** How long the downloads took: it counts against the render's budget. */
  spentMs: number;
}

export type PrefetchOptions = Pick<
  RenderOptions,
  "allowPrivateNetworks" | "fetchTimeoutMs" | "maxImageBytes" | "timeoutMs" | "fairnessKey"
>;

/**
 * Downloads `images` (from imagesToFetch) at once, under the same rules as the render and within
 * its budget (`timeoutMs`: past it, RENDER_TIMEOUT), and removes the backgrounds asked for. This is
 * the I/O stage of a job: the render worker runs it before it takes a CPU slot, so a slow image
 * host, or a wait for the background-removal engine, does not hold one. Rejects with the first
 * RenderError, as the render would.
 */
export async function prefetchImages(
  images: readonly ImageToFetch[],
  opts: PrefetchOptions = {},
): Promise<PrefetchedImages> {
  if (images.length === 0) return { sources: new Map(), spentMs: 0 };
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RENDER_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new RenderError("RENDER_FAILED", `timeoutMs must be a positive number, not ${timeoutMs}`);
  const budget = new RenderBudget(timeoutMs);
  setMaxListeners(0, budget.signal);
  const ctx: ImageFetchContext = {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    fetchTimeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxImageBytes: opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
    signal: budget.signal,
    budget,
    fairnessKey: opts.fairnessKey,
  };
  try {
    const downloads = images.map(async (image) => [imageSourceKey(image), await imageSource(image, ctx)] as const);
    for (const d of downloads) d.catch((err: unknown) => budget.fail(err)); // the first failure stops the others
    const sources = new Map(await budget.race(Promise.all(downloads)));
    return { sources, spentMs: Date.now() - started };
  } catch (err) {
    budget.fail(err);
    throw budget.error ?? err;
  } finally {
    budget.dispose();
  }
}

/** Render a template document to an image. Rejects with RenderError only. */
export async function renderTemplate(input: TemplateDocument, opts: RenderOptions): Promise<RenderResult> {
  if (!sharpConfigured) configureSharp();
  const format = opts.format;
  const { quality, scale, timeoutMs } = checkOptions(opts);
  const parsed = checked.get(input) ?? TemplateDocument.safeParse(input);
  checked.delete(input);
  if (!parsed.success)
    throw new RenderError("RENDER_FAILED", `invalid template document: ${z.prettifyError(parsed.error)}`);
  // The same limits the API checks when it accepts the request (a job accepted before they
  // existed, or a caller of this function, meets them here).
  const tooMuch = renderBudgetProblem(parsed.data, scale);
  if (tooMuch) throw new RenderError("RENDER_FAILED", tooMuch.message);
  const doc = scaleDocument(parsed.data, scale);

  const canvas: Rect = { left: 0, top: 0, width: doc.width, height: doc.height };
  const canvasArea = doc.width * doc.height;
  const prefetched = opts.prefetched;
  const budget = new RenderBudget(timeoutMs, prefetched?.spentMs);
  setMaxListeners(0, budget.signal); // image fetches and SVG rasterisers listen to it
  const ctx: RenderContext = {
    allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
    fetchTimeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxImageBytes: opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
    signal: budget.signal,
    budget,
    fairnessKey: opts.fairnessKey,
    fonts: opts.fonts ?? [],
  };
  try {
    const steps: Step[] = [
      backgroundStep(doc, canvas, ctx),
      ...doc.layers.map((layer) => layerStep(layer, canvas, ctx)),
    ];
    const downloads = steps.filter((s) => s.image);
    let started = 0; // steps whose preparation started
    let done = 0; // steps blended
    let areaInFlight = 0; // area of the started, not yet blended steps
    let fetchesStarted = 0;
    let imagesDone = 0;
    // Start what the windows allow: downloads FETCH_AHEAD images ahead; preparations while fewer
    // than PREPARE_AHEAD are pending and their overlays together stay within one canvas (a step
    // always starts when nothing else is pending).
    const pump = () => {
      while (fetchesStarted < downloads.length && fetchesStarted < imagesDone + FETCH_AHEAD) {
        const step = downloads[fetchesStarted++]!;
        const ready = prefetched?.sources.get(imageSourceKey(step.image!));
        step.source = ready ? Promise.resolve(ready) : imageSource(step.image!, ctx);
        step.source.catch((err: unknown) => budget.fail(err)); // the first failure ends the render
      }
      while (started < steps.length) {
        const step = steps[started]!;
        const pending = started - done;
        if (pending > 0 && (pending >= PREPARE_AHEAD || areaInFlight + step.area > canvasArea)) break;
        started++;
        areaInFlight += step.area;
        step.pending = step.prepare(step.source);
        step.pending.catch((err: unknown) => budget.fail(err));
      }
    };

    let pixels: Buffer | undefined;
    let opaque = false;
    for (const [i, step] of steps.entries()) {
      pump();
      const prepared = await budget.race(step.pending!);
      // Dropped as soon as blended: only the window's overlays are alive.
      step.pending = undefined;
      step.source = undefined;
      if (step.image) imagesDone++;
      pump(); // downloads go on (and small layers are prepared) while this one is blended
      if (i === 0) {
        const base = prepared as Base;
        // JPEG has no alpha: a background that is not opaque is drawn onto white.
        const ontoWhite = format === "jpeg" && !base.opaque;
        opaque = base.opaque || ontoWhite;
        let color = base.color;
        if (ontoWhite) {
          const a = color.alpha;
          const over = (c: number) => Math.round(c * a + 255 * (1 - a));
          color = { r: over(color.r), g: over(color.g), b: over(color.b), alpha: 1 };
        }
        if (base.raw && !ontoWhite) pixels = Buffer.from(base.raw);
        else {
          pixels = Buffer.alloc(
            canvasArea * 4,
            Buffer.from([color.r, color.g, color.b, Math.round(color.alpha * 255)]),
          );
          if (base.raw) blendOver(pixels, doc.width, { ...canvas, data: base.raw }, true);
        }
        if (base.overlay) blendOver(pixels, doc.width, base.overlay, opaque);
      } else if (prepared) {
        // Composite in place on one RGBA canvas (cheaper than libvips' general compositing).
        blendOver(pixels!, doc.width, prepared as Overlay, opaque);
      }
      done++;
      areaInFlight -= step.area; // its overlay is garbage now
      budget.check();
    }

    if (!pixels) throw new RenderError("RENDER_FAILED", "no background was drawn", { retryable: true });
    let image: Sharp = sharp(pixels, { raw: { width: doc.width, height: doc.height, channels: 4 } }).timeout({
      seconds: budget.sharpSeconds(),
    });
    pixels = undefined;
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
    let buffer: Buffer;
    try {
      buffer = await budget.race(image.toBuffer());
    } catch (err) {
      if (err instanceof RenderError) throw err;
      throw (
        budget.errorFor(err) ??
        new RenderError("RENDER_FAILED", `could not encode the ${format} image: ${errorMessage(err)}`, {
          cause: err,
          retryable: true,
        })
      );
    }
    return { buffer, width: doc.width, height: doc.height, format, contentType: contentTypeFor(format) };
  } catch (err) {
    // Stop whatever is still running for this render (downloads, SVG rasterisers).
    budget.fail(err);
    throw budget.error ?? err;
  } finally {
    budget.dispose();
  }
}
