// Background removal: a photo in, the same photo with its background transparent out (PNG).
//
// Where the cost goes, and how it is bounded:
// - The model (models/u2netp.onnx by default, see model.ts) is loaded once per process on first use.
// - At most `concurrency` removals run at once in a process (slots.ts): a removal holds a core or
//   more for a fraction of a second and some hundreds of MB, and ordinary renders, which take no
//   slot, must keep going beside it. The slot covers the whole removal (decode, model, encode), so
//   it bounds memory as well as CPU.
// - The source is refused from its header alone by images.ts's rules (format, MAX_IMAGE_PIXELS),
//   and decoded at most `maxSide` pixels on its longest side (default 2048). The mask comes from a
//   320x320 view of the photo whatever its size, so a larger cut-out would carry no finer edge,
//   only more memory (a 50-megapixel RGBA buffer is 200 MB) and a slower PNG encode.
// - Cut-outs are cached by the sha256 of the source bytes and the model's identity (cache.ts), and
//   concurrent calls for the same bytes share one run: a batch with one photo removes it once.
// - The deadline is checked while waiting for a slot and around the work. A model run cannot be
//   interrupted, so a removal that has started runs to its end, frees its slot and fills the cache
//   (a retry of the same render then finds it), while the caller is answered at its deadline.
import { createHash } from "node:crypto";
import path from "node:path";
import sharp from "sharp";
import { PROJECT_ROOT } from "../project-root.js";
import { CutoutCache } from "./background-removal/cache.js";
import { SaliencyModel } from "./background-removal/model.js";
import { Slots } from "./background-removal/slots.js";
import { RenderError } from "./errors.js";
import { MAX_IMAGE_PIXELS, rasterHeader } from "./images.js";

export interface BackgroundRemovalSettings {
  /** The ONNX model; default <project root>/models/u2netp.onnx. */
  modelPath?: string;
  /** The model's square input, px; default 320. */
  inputSize?: number;
  /** Removals running at once in this process; default 1. */
  concurrency?: number;
  /** Bytes of cut-outs kept in memory, by source content; default 64 MiB (0: no cache). */
  cacheMaxBytes?: number;
  /** onnxruntime intra-op threads; default 1. */
  threads?: number;
  /** Longest side of the cut-out, px: larger sources are scaled down to it; default 2048. */
  maxSide?: number;
}

const DEFAULT_BACKGROUND_REMOVAL_MODEL = path.join(PROJECT_ROOT, "models", "u2netp.onnx");
const DEFAULT_CUTOUT_MAX_SIDE = 2048;
/**
 * libvips checks its timeout between tiles; a removal that started finishes (see above), so its
 * pipelines get a fixed safety bound rather than the caller's remaining time.
 */
const SHARP_TIMEOUT_SECONDS = 30;
const WHERE = "background removal: the source image";

interface State {
  model: SaliencyModel;
  slots: Slots;
  cache: CutoutCache;
  maxSide: number;
  /** Removals done (cache misses that ran to the end); see backgroundRemovalStats. */
  removals: number;
  cacheHits: number;
  sharedRuns: number;
}

let state: State | undefined;
const inflight = new Map<string, Promise<Buffer>>();

function makeState(settings: BackgroundRemovalSettings = {}): State {
  const positive = (value: number | undefined, fallback: number, name: string) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`background removal: ${name} must be a positive integer`);
    return v;
  };
  return {
    model: new SaliencyModel({
      path: path.resolve(settings.modelPath ?? DEFAULT_BACKGROUND_REMOVAL_MODEL),
      inputSize: positive(settings.inputSize, 320, "inputSize"),
      threads: positive(settings.threads, 1, "threads"),
    }),
    slots: new Slots(positive(settings.concurrency, 1, "concurrency")),
    cache: new CutoutCache(Math.max(0, settings.cacheMaxBytes ?? 64 * 1024 * 1024)),
    maxSide: positive(settings.maxSide, DEFAULT_CUTOUT_MAX_SIDE, "maxSide"),
    removals: 0,
    cacheHits: 0,
    sharedRuns: 0,
  };
}

/**
 * Set the engine's settings (at startup; also clears the cache and the counters). The model is
 * loaded on the first removal after this, not here. Without a call, the defaults apply.
 */
export function configureBackgroundRemoval(settings?: BackgroundRemovalSettings): void {
  state?.model.dispose();
  state = makeState(settings);
  inflight.clear();
}

function current(): State {
  return (state ??= makeState());
}

export interface BackgroundRemovalStats {
  /** Model sessions created (1 after the first removal; more only after configure). */
  modelLoads: number;
  /** Milliseconds the last model load took. */
  modelLoadMs: number;
  /** Model inference runs. */
  modelRuns: number;
  /** Calls answered from the cache. */
  cacheHits: number;
  /** Calls that joined a run already under way for the same bytes. */
  sharedRuns: number;
  cacheEntries: number;
  cacheBytes: number;
  /** Removals running now, and waiting for a slot now. */
  running: number;
  waiting: number;
  /** Most running at once, and waiting at once, since configure. */
  peakRunning: number;
  peakWaiting: number;
}

/** Counters, for tests, the benchmark and metrics. */
export function backgroundRemovalStats(): BackgroundRemovalStats {
  const s = current();
  return {
    modelLoads: s.model.loads,
    modelLoadMs: s.model.loadMs,
    modelRuns: s.model.runs,
    cacheHits: s.cacheHits,
    sharedRuns: s.sharedRuns,
    cacheEntries: s.cache.size,
    cacheBytes: s.cache.bytes,
    running: s.slots.active,
    waiting: s.slots.waiting,
    peakRunning: s.slots.peakRunning,
    peakWaiting: s.slots.peakWaiting,
  };
}

/**
 * Load the model now rather than on the first removal (a worker may call it at startup so that
 * a broken BACKGROUND_REMOVAL_MODEL shows at once). Throws the same RenderError a removal would.
 */
export async function loadBackgroundRemovalModel(): Promise<void> {
  await current().model.load();
}

interface RemoveOptions {
  signal?: AbortSignal;
  /** Epoch ms. */
  deadline?: number;
  /** Whose removal this is (the organisation): waiters for a slot are served round-robin by it. */
  fairnessKey?: string;
}

const timeoutError = () =>
  new RenderError("RENDER_TIMEOUT", "background removal did not finish within the render's time budget", {
    retryable: false,
  });

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof RenderError) return reason;
  return new RenderError("RENDER_FAILED", "background removal was aborted", { cause: reason, retryable: true });
}

/**
 * The source image (encoded bytes: JPEG/PNG/WebP/...) with its background made transparent: a PNG
 * of the same pixel size (EXIF orientation applied; sources longer than maxSide, default 2048, on
 * their longest side are scaled down to it, keeping their aspect ratio), alpha = the model's mask
 * (times the source's own alpha, if any). Cached by the sha256 of `source` (+ model identity): the
 * same photo in a batch is removed once; concurrent calls for the same bytes share one run. Throws
 * RenderError (a clean render failure) for undecodable/oversized input, a missing or broken model,
 * an abort or a timeout; never crashes the process. The returned buffer is shared with the cache:
 * do not modify it.
 */
export async function removeBackground(source: Buffer, options: RemoveOptions = {}): Promise<Buffer> {
  const s = current();
  const { signal, deadline } = options;
  if (signal?.aborted) throw abortError(signal);
  if (deadline !== undefined && Date.now() >= deadline) throw timeoutError();
  const key = createHash("sha256")
    .update(source)
    .update(JSON.stringify([s.model.settings.path, s.model.settings.inputSize, s.maxSide]))
    .digest("hex");
  const hit = s.cache.get(key);
  if (hit) {
    s.cacheHits++;
    return hit;
  }
  const pending = inflight.get(key);
  if (pending) {
    s.sharedRuns++;
    // Another caller's run for the same bytes. If it fails (perhaps only because that caller's
    // deadline passed while it waited for a slot), try once on our own, so that its error never
    // becomes ours.
    const shared = await raceDeadline(
      pending.catch(() => undefined),
      signal,
      deadline,
    );
    if (shared) return shared;
  }
  const run = (async () => {
    const release = await s.slots.acquire(options.fairnessKey, deadline, signal, timeoutError, () =>
      abortError(signal!),
    );
    try {
      const cutout = await cutOut(s, source);
      s.removals++;
      s.cache.put(key, cutout);
      return cutout;
    } finally {
      release();
    }
  })();
  inflight.set(key, run);
  run.then(
    () => inflight.delete(key),
    () => inflight.delete(key),
  );
  return raceDeadline(run, signal, deadline);
}

/** `p`, or a RenderError when the deadline passes or the signal aborts first. */
function raceDeadline<T>(p: Promise<T>, signal: AbortSignal | undefined, deadline: number | undefined): Promise<T> {
  if (!signal && deadline === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const timer =
      deadline === undefined ? undefined : setTimeout(() => finish(timeoutError()), Math.max(0, deadline - Date.now()));
    const abort = () => finish(abortError(signal!));
    signal?.addEventListener("abort", abort, { once: true });
    let done = false;
    function finish(err: Error | undefined, value?: T) {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      if (err) reject(err);
      else resolve(value as T);
    }
    p.then(
      (value) => finish(undefined, value),
      (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

/** Decode, mask, compose, encode. Runs inside a slot. */
async function cutOut(s: State, source: Buffer): Promise<Buffer> {
  if (source.length === 0) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${WHERE} could not be decoded: it is empty (0 bytes)`);
  }
  // Format and pixel count from the header alone: the limits image layers have.
  await rasterHeader(source, WHERE);
  const size = s.model.settings.inputSize;
  let rgba: { data: Buffer; width: number; height: number };
  let small: Buffer;
  try {
    const decoded = await sharp(source, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: "error", autoOrient: true })
      .timeout({ seconds: SHARP_TIMEOUT_SECONDS })
      .resize(s.maxSide, s.maxSide, { fit: "inside", withoutEnlargement: true })
      .toColourspace("srgb")
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    rgba = { data: decoded.data, width: decoded.info.width, height: decoded.info.height };
    // The model sees the photo squashed to size x size, whatever its aspect ratio, as in
    // U²-Net's reference inference; the mask is stretched back the same way.
    small = await sharp(rgba.data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } })
      .timeout({ seconds: SHARP_TIMEOUT_SECONDS })
      .removeAlpha()
      .resize(size, size, { fit: "fill", kernel: "lanczos3" })
      .raw()
      .toBuffer();
  } catch (err) {
    if (err instanceof RenderError) throw err;
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${WHERE} could not be decoded: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const mask = await s.model.mask(small);
  try {
    const alpha = await sharp(mask, { raw: { width: size, height: size, channels: 1 } })
      .timeout({ seconds: SHARP_TIMEOUT_SECONDS })
      .resize(rgba.width, rgba.height, { fit: "fill", kernel: "lanczos3" })
      .extractChannel(0) // (sharp would otherwise hand back a one-channel raw input as sRGB, 3 bytes a pixel)
      .raw()
      .toBuffer();
    const { data } = rgba;
    if (alpha.length * 4 !== data.length)
      throw new Error(`mask of ${alpha.length} pixels for a ${rgba.width}x${rgba.height} image`);
    for (let p = 0, i = 3; p < alpha.length; p++, i += 4) {
      const a = data[i]!;
      data[i] = a === 255 ? alpha[p]! : Math.round((a * alpha[p]!) / 255);
    }
    // Level 3: about as small as the default for photos with an alpha channel, markedly faster.
    return await sharp(data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } })
      .timeout({ seconds: SHARP_TIMEOUT_SECONDS })
      .png({ compressionLevel: 3 })
      .toBuffer();
  } catch (err) {
    throw new RenderError(
      "RENDER_FAILED",
      `background removal: the cut-out could not be made: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, retryable: true },
    );
  }
}
