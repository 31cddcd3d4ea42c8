// Image layers and image backgrounds: guarded fetch, header check, decode, fit, rounded corners.
//
// Fetched images are kept briefly in memory, twice: the downloaded bytes (so one photo used in
// several boxes is fetched once) and the decoded pixels fitted to a box (so a batch rendering the
// same template decodes once). Concurrent renders asking for the same image share one fetch and
// one decode. Bounded by bytes and age; keys include everything that decides whether and how an
// image may be fetched (the private-network rule in particular), so a cached entry never
// bypasses a check the current render would apply.
//
// Budgets: an image whose header declares more than MAX_IMAGE_PIXELS is refused before it is
// decoded; a render's images together may not declare more than MAX_RENDER_SOURCE_PIXELS (cached
// ones count too, so the outcome does not depend on the cache); a render decodes one image at a
// time (its decode buffers are the only ones it holds), each libvips pipeline gets the render's
// remaining time as its sharp timeout, and SVG is drawn in a child process (svg.ts).
//
// A layer with remove_background is given its cut-out (sources.ts) as its source: fit, crop and
// radius then apply to it as to any image with transparency; the fitted pixels' cache key says
// which of the two was fitted.
import sharp, { type Metadata } from "sharp";
import type { RenderBudget } from "./budget.js";
import { RenderError } from "./errors.js";
import { displayUrl, fetchImage } from "./fetch-image.js";
import { isOpaque, type Piece, type Rect } from "./raster.js";
import { roundedMask } from "./shapes.js";
import {
  MAX_SVG_BYTES,
  svgKind,
  SvgMemoryError,
  SvgProcessError,
  SvgRasterizer,
  type FitPlan,
  type Raster,
} from "./svg.js";

/** Decoded images larger than this (width x height of the source) are refused. */
const MAX_IMAGE_PIXELS = 50_000_000;
/**
 * AVIF/HEIF are decoded whole, at about 18 bytes per pixel (measured with sharp 0.35 / libheif:
 * 7000x7000 took 860 MiB and 3 s, 4000x4000 294 MiB), so their limit is lower. Other formats
 * peak at about 3.5 bytes per pixel (progressive JPEG, interlaced PNG) or stream.
 */
const MAX_HEIF_PIXELS = 16_000_000;
/** Raster formats decoded in the render process (SVG goes to svg.ts). */
const ACCEPTED_IMAGE_FORMATS = new Set(["jpeg", "png", "webp", "gif", "avif", "heif", "tiff"]);

export interface ImageCacheSettings {
  /** Entry lifetime; 0 disables the cache. Default 60 000 ms. */
  ttlMs?: number;
  /** Total bytes kept (downloaded and decoded). Default 64 MiB. */
  maxBytes?: number;
}

interface Cached {
  data: Buffer; // never mutated
  sourceBytes: number;
  /** Every pixel opaque (decoded pixels only). */
  opaque?: boolean;
  /** The source's declared width x height (decoded pixels only). */
  sourcePixels?: number;
}

/** Downloaded bytes of an image (see fetchSource). */
export type ImageSource = Cached;

interface CacheEntry extends Cached {
  expires: number;
}

const cache = new Map<string, CacheEntry>();
const inflight = new Map<string, Promise<Cached>>();
let cacheBytes = 0;
let cacheTtlMs = 60_000;
let cacheMaxBytes = 64 * 1024 * 1024;

/** Set (and clear) the image cache. */
export function configureImageCache(settings: ImageCacheSettings = {}): void {
  cacheTtlMs = settings.ttlMs ?? 60_000;
  cacheMaxBytes = settings.maxBytes ?? 64 * 1024 * 1024;
  cache.clear();
  cacheBytes = 0;
}

function cacheDelete(key: string, entry: CacheEntry): void {
  cache.delete(key);
  cacheBytes -= entry.data.length;
}

function cacheGet(key: string, maxSourceBytes: number): CacheEntry | undefined {
  const entry = cache.get(key);
  if (!entry) return undefined;
  if (entry.expires <= Date.now()) {
    cacheDelete(key, entry);
    return undefined;
  }
  if (entry.sourceBytes > maxSourceBytes) return undefined;
  cache.delete(key); // most recently used goes last
  cache.set(key, entry);
  return entry;
}

function cachePut(key: string, value: Cached): void {
  if (cacheTtlMs <= 0 || value.data.length > cacheMaxBytes / 4) return;
  const old = cache.get(key);
  if (old) cacheDelete(key, old);
  cache.set(key, { ...value, expires: Date.now() + cacheTtlMs });
  cacheBytes += value.data.length;
  for (const [k, entry] of cache) {
    if (cacheBytes <= cacheMaxBytes) break;
    cacheDelete(k, entry);
  }
}

/** Cached value, or compute it once for all concurrent callers (and cache it). */
async function cached(key: string, maxSourceBytes: number, compute: () => Promise<Cached>): Promise<Cached> {
  const hit = cacheGet(key, maxSourceBytes);
  if (hit) return hit;
  if (cacheTtlMs > 0) {
    const pending = inflight.get(key);
    if (pending) {
      // Another render is already at it. If it fails (perhaps only because that render was
      // aborted), try once on our own, so that its error (and layer name) never becomes ours.
      const shared = await pending.catch(() => undefined);
      if (shared && shared.sourceBytes <= maxSourceBytes) return shared;
    }
  }
  const promise = compute();
  if (cacheTtlMs > 0) {
    inflight.set(key, promise);
    promise.then(
      (v) => {
        inflight.delete(key);
        cachePut(key, v);
      },
      () => inflight.delete(key),
    );
  }
  return promise;
}

export interface ImageFetchContext {
  allowPrivateNetworks: boolean;
  fetchTimeoutMs: number;
  maxImageBytes: number;
  signal: AbortSignal;
  /** The render's deadline, source-pixel count and decode turn. */
  budget: RenderBudget;
  /** Whose render this is (the organisation): background removals wait their turn round-robin by it. */
  fairnessKey?: string;
}

export interface ImageRequest {
  url: string;
  fit: "cover" | "contain" | "fill";
  /** 0..1, which part `cover` keeps. */
  focalX: number;
  focalY: number;
  /** Corner radius, px (0: square corners). */
  radius: number;
  /** Box size, px. */
  width: number;
  height: number;
  /** "image layer \"photo\"" or "background image", for messages. */
  label: string;
  /** Draw the image with its background removed (the source is a cut-out). */
  removeBackground?: boolean;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function download(url: string, label: string, ctx: ImageFetchContext): Promise<Cached> {
  const { body } = await fetchImage(url, {
    allowPrivateNetworks: ctx.allowPrivateNetworks,
    timeoutMs: ctx.fetchTimeoutMs,
    maxBytes: ctx.maxImageBytes,
    label,
    signal: ctx.signal,
  });
  return { data: body, sourceBytes: body.length };
}

/** Refuse an unsupported format, or too many pixels, from the header alone (before decoding). */
function checkSize(
  meta: { format?: string | undefined; width?: number | undefined; height?: number | undefined },
  where: string,
  formats: ReadonlySet<string>,
): { width: number; height: number } {
  if (!formats.has(meta.format ?? "") || !meta.width || !meta.height) {
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${where} could not be decoded: unsupported image format ${meta.format ?? "unknown"}`,
    );
  }
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) {
    throw new RenderError(
      "IMAGE_TOO_LARGE",
      `${where} is ${meta.width}x${meta.height} pixels, more than the ${MAX_IMAGE_PIXELS / 1_000_000}-megapixel limit`,
    );
  }
  if (meta.format === "heif" && meta.width * meta.height > MAX_HEIF_PIXELS) {
    throw new RenderError(
      "IMAGE_TOO_LARGE",
      `${where} is ${meta.width}x${meta.height} pixels, more than the ${MAX_HEIF_PIXELS / 1_000_000}-megapixel limit for AVIF/HEIF images`,
    );
  }
  return { width: meta.width, height: meta.height };
}

/**
 * The header of a raster image (in this process: reading a header decodes no pixels). Refuses what
 * images.ts would not decode (SVG, unknown formats, too many pixels); background removal uses it too.
 */
export async function rasterHeader(body: Buffer, where: string): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(body, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${where} could not be decoded: not a supported image (${errorMessage(err)})`,
      { cause: err },
    );
  }
  if (meta.format === "svg") {
    // SVG that does not start like XML text: svg.ts only takes what starts with "<".
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${where} could not be decoded: SVG must start with "<" (an XML declaration or the <svg> element)`,
    );
  }
  checkSize(meta, where, ACCEPTED_IMAGE_FORMATS);
  return meta;
}

/** Resize and crop that fit a srcW x srcH image to the box and keep `region` of it. */
function fitPlan(srcW: number, srcH: number, req: ImageRequest, region: Rect): FitPlan {
  if (req.fit === "cover") {
    // Scale to cover the box, then keep the window the focal point selects.
    const scale = Math.max(req.width / srcW, req.height / srcH);
    const w = Math.max(req.width, Math.round(srcW * scale));
    const h = Math.max(req.height, Math.round(srcH * scale));
    const offsetX = Math.round((w - req.width) * req.focalX);
    const offsetY = Math.round((h - req.height) * req.focalY);
    return {
      resize: { width: w, height: h, fit: "fill" },
      extract: { ...region, left: offsetX + region.left, top: offsetY + region.top },
    };
  }
  return { resize: { width: req.width, height: req.height, fit: req.fit }, extract: region };
}

type Decoded = Raster & { sourcePixels: number };

async function decodeRaster(
  body: Buffer,
  req: ImageRequest,
  region: Rect,
  where: string,
  budget: RenderBudget,
): Promise<Decoded> {
  const meta = await rasterHeader(body, where);
  // Source size after EXIF orientation.
  const swap = (meta.orientation ?? 1) >= 5;
  const srcW = swap ? meta.height : meta.width;
  const srcH = swap ? meta.width : meta.height;
  budget.chargeSourcePixels(srcW * srcH, where);
  const plan = fitPlan(srcW, srcH, req, region);
  const { data, info } = await sharp(body, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: "error", autoOrient: true })
    .timeout({ seconds: budget.sharpSeconds() })
    .resize(plan.resize.width, plan.resize.height, { fit: plan.resize.fit, background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .extract(plan.extract)
    .ensureAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
    depth: (info as { depth?: string }).depth,
    sourcePixels: srcW * srcH,
  };
}

const SVG_FORMATS: ReadonlySet<string> = new Set(["svg"]);

async function decodeSvg(
  body: Buffer,
  req: ImageRequest,
  region: Rect,
  where: string,
  ctx: ImageFetchContext,
): Promise<Decoded> {
  if (svgKind(body) === "svgz") {
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${where} could not be decoded: compressed SVG (svgz) is not accepted; serve it uncompressed`,
    );
  }
  if (body.length > MAX_SVG_BYTES) {
    throw new RenderError(
      "IMAGE_TOO_LARGE",
      `${where} is an SVG of ${body.length} bytes, more than the ${MAX_SVG_BYTES}-byte limit for SVG images`,
    );
  }
  const svg = new SvgRasterizer(ctx.signal);
  try {
    let meta;
    try {
      meta = await svg.meta(body);
    } catch (err) {
      if (err instanceof RenderError || err instanceof SvgProcessError || err instanceof SvgMemoryError) throw err;
      throw new RenderError(
        "IMAGE_DECODE_FAILED",
        `${where} could not be decoded: not a supported image (${errorMessage(err)})`,
        { cause: err },
      );
    }
    const { width, height } = checkSize(meta, where, SVG_FORMATS);
    ctx.budget.chargeSourcePixels(width * height, where);
    const raster = await svg.render(fitPlan(width, height, req, region), MAX_IMAGE_PIXELS, ctx.budget.sharpSeconds());
    return { ...raster, sourcePixels: width * height };
  } finally {
    svg.close();
  }
}

async function decodeAndFit(
  body: Buffer,
  req: ImageRequest,
  region: Rect,
  where: string,
  ctx: ImageFetchContext,
): Promise<{ data: Buffer; sourcePixels: number }> {
  try {
    const raster = await ctx.budget.exclusive(() =>
      svgKind(body) ? decodeSvg(body, req, region, where, ctx) : decodeRaster(body, req, region, where, ctx.budget),
    );
    const { data } = raster;
    if (
      raster.width !== region.width ||
      raster.height !== region.height ||
      raster.channels !== 4 ||
      (raster.depth && raster.depth !== "uchar")
    ) {
      throw new Error(`unexpected raster ${raster.width}x${raster.height}x${raster.channels} ${raster.depth}`);
    }
    if (req.radius >= 0.5) {
      const mask = await roundedMask(req.width, req.height, req.radius, region, ctx.budget.sharpSeconds());
      for (let i = 0; i < mask.length; i++) {
        const m = mask[i]!;
        if (m !== 255) data[i * 4 + 3] = Math.round((data[i * 4 + 3]! * m) / 255);
      }
    }
    return { data, sourcePixels: raster.sourcePixels };
  } catch (err) {
    if (err instanceof RenderError) throw err;
    const budgetError = ctx.budget.errorFor(err); // aborted or timed out: the render's own error says why
    if (budgetError) throw budgetError;
    if (err instanceof SvgMemoryError)
      throw new RenderError("IMAGE_TOO_LARGE", `${where}: ${err.message}`, { cause: err });
    // The process died (memory?) or could not start: another attempt may do better.
    if (err instanceof SvgProcessError)
      throw new RenderError("RENDER_FAILED", `${where}: ${err.message}`, { cause: err, retryable: true });
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: ${errorMessage(err)}`, { cause: err });
  }
}

const sourceKey = (url: string, ctx: ImageFetchContext) => JSON.stringify(["src", url, ctx.allowPrivateNetworks]);

/**
 * The image's bytes, downloaded (or from the cache). The renderer calls this ahead of time for the
 * next image layers, so downloads overlap while layers are drawn one after another.
 */
export function fetchSource(url: string, label: string, ctx: ImageFetchContext): Promise<ImageSource> {
  return cached(sourceKey(url, ctx), ctx.maxImageBytes, () => download(url, label, ctx));
}

/**
 * The image fitted to its box, rounded corners applied, for `region` (box coordinates) of the box.
 * The returned buffer may be shared with the cache: do not modify it.
 */
export async function imagePiece(
  req: ImageRequest,
  region: Rect,
  ctx: ImageFetchContext,
  /** What to draw: fetchSource's bytes, or (removeBackground) sources.ts's cut-out. */
  source: Promise<ImageSource>,
): Promise<Piece> {
  const fittedKey = JSON.stringify([
    "fit",
    sourceKey(req.url, ctx),
    req.fit,
    req.focalX,
    req.focalY,
    req.radius,
    req.removeBackground === true,
    [req.width, req.height],
    [region.left, region.top, region.width, region.height],
  ]);
  const where = `${req.label}: the image at ${displayUrl(req.url)}`;
  let decodedHere = false;
  const fitted = await cached(fittedKey, ctx.maxImageBytes, async () => {
    const body = await source;
    decodedHere = true; // (charged while decoding)
    const { data, sourcePixels } = await decodeAndFit(body.data, req, region, where, ctx);
    return { data, sourceBytes: body.sourceBytes, opaque: isOpaque(data), sourcePixels };
  });
  // From the cache (or another render's decode): its source pixels count here too.
  if (!decodedHere) ctx.budget.chargeSourcePixels(fitted.sourcePixels ?? 0, where);
  return { ...region, data: fitted.data, opaque: fitted.opaque === true };
}
