// Image layers and image backgrounds: guarded fetch, header check, decode, fit, rounded corners.
//
// Fetched images are kept briefly in memory, twice: the downloaded bytes (so one photo used in
// several boxes is fetched once) and the decoded pixels fitted to a box (so a batch rendering the
// same template decodes once). Concurrent renders asking for the same image share one fetch and
// one decode. Bounded by bytes and age; keys include everything that decides whether and how an
// image may be fetched (the private-network rule in particular), so a cached entry never
// bypasses a check the current render would apply.
import sharp, { type Metadata } from "sharp";
import { RenderError } from "./errors.js";
import { displayUrl, fetchImage } from "./fetch-image.js";
import { isOpaque, type Piece, type Rect } from "./raster.js";
import { roundedMask } from "./shapes.js";

/** Decoded images larger than this (width x height of the source) are refused. */
export const MAX_IMAGE_PIXELS = 50_000_000;
const ACCEPTED_IMAGE_FORMATS = new Set(["jpeg", "png", "webp", "gif", "avif", "heif", "tiff", "svg"]);

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
}

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

/** Refuse what is not an image, or too many pixels, from the header alone (before decoding). */
async function checkHeader(body: Buffer, where: string): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(body, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: not a supported image (${errorMessage(err)})`, { cause: err });
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
  return meta;
}

async function decodeAndFit(body: Buffer, req: ImageRequest, region: Rect, where: string): Promise<Buffer> {
  const meta = await checkHeader(body, where);
  try {
    // Source size after EXIF orientation.
    const swap = (meta.orientation ?? 1) >= 5;
    const srcW = swap ? meta.height : meta.width;
    const srcH = swap ? meta.width : meta.height;
    let pipeline = sharp(body, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: "error", autoOrient: true });
    let offsetX = 0;
    let offsetY = 0;
    if (req.fit === "cover") {
      // Scale to cover the box, then keep the window the focal point selects.
      const scale = Math.max(req.width / srcW, req.height / srcH);
      const w = Math.max(req.width, Math.round(srcW * scale));
      const h = Math.max(req.height, Math.round(srcH * scale));
      pipeline = pipeline.resize(w, h, { fit: "fill" });
      offsetX = Math.round((w - req.width) * req.focalX);
      offsetY = Math.round((h - req.height) * req.focalY);
    } else {
      pipeline = pipeline.resize(req.width, req.height, { fit: req.fit, background: { r: 0, g: 0, b: 0, alpha: 0 } });
    }
    pipeline = pipeline.extract({ left: offsetX + region.left, top: offsetY + region.top, width: region.width, height: region.height });
    const { data, info } = await pipeline.ensureAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    const depth = (info as { depth?: string }).depth;
    if (info.width !== region.width || info.height !== region.height || info.channels !== 4 || (depth && depth !== "uchar")) {
      throw new Error(`unexpected raster ${info.width}x${info.height}x${info.channels} ${depth}`);
    }
    if (req.radius >= 0.5) {
      const mask = await roundedMask(req.width, req.height, req.radius, region);
      for (let i = 0; i < mask.length; i++) {
        const m = mask[i]!;
        if (m !== 255) data[i * 4 + 3] = Math.round((data[i * 4 + 3]! * m) / 255);
      }
    }
    return data;
  } catch (err) {
    if (err instanceof RenderError) throw err;
    throw new RenderError("IMAGE_DECODE_FAILED", `${where} could not be decoded: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The image fitted to its box, rounded corners applied, for `region` (box coordinates) of the box.
 * The returned buffer may be shared with the cache: do not modify it.
 */
export async function imagePiece(req: ImageRequest, region: Rect, ctx: ImageFetchContext): Promise<Piece> {
  const source = JSON.stringify(["src", req.url, ctx.allowPrivateNetworks]);
  const fittedKey = JSON.stringify([
    "fit",
    source,
    req.fit,
    req.focalX,
    req.focalY,
    req.radius,
    [req.width, req.height],
    [region.left, region.top, region.width, region.height],
  ]);
  const where = `${req.label}: the image at ${displayUrl(req.url)}`;
  const fitted = await cached(fittedKey, ctx.maxImageBytes, async () => {
    const body = await cached(source, ctx.maxImageBytes, () => download(req.url, req.label, ctx));
    const data = await decodeAndFit(body.data, req, region, where);
    return { data, sourceBytes: body.sourceBytes, opaque: isOpaque(data) };
  });
  return { ...region, data: fitted.data, opaque: fitted.opaque === true };
}
