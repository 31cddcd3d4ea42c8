// Background removal: a photo in, the same photo with its background transparent out (PNG).
//
// Where the cost goes, and how it is bounded:
// - The work of a removal (decode, the model, mask, compose, PNG encode) runs on an engine thread
//   (background-removal/thread.mjs, a worker_threads Worker), never on the caller's: onnxruntime
//   runs a model synchronously on the thread that calls it, and a run takes a fraction of a second
//   that the render worker's event loop (fetches, other renders, queue locks, timers) must not
//   lose. One thread per slot, started on first use, each loading the model (models/u2netp.onnx by
//   default) on its own first use: a process that never removes a background starts no thread and
//   never loads onnxruntime. A thread that dies fails its removal (retryable) and is replaced.
// - At most `concurrency` removals run at once in a process (slots.ts): a removal holds a core or
//   more for a fraction of a second and some hundreds of MB, and ordinary renders, which take no
//   slot, must keep going beside it. The slot covers the whole removal (decode, model, encode), so
//   it bounds memory as well as CPU.
// - The source is refused from its header alone by images.ts's rules (format, MAX_IMAGE_PIXELS)
//   and above MAX_CUTOUT_PIXELS (25 megapixels), and decoded at most `maxSide` pixels on its
//   longest side (default 2048). The mask comes from a 320x320 view of the photo whatever its
//   size, so a larger cut-out would carry no finer edge, only more memory (a 50-megapixel RGBA
//   buffer is 200 MB) and a slower PNG encode. Each sharp pipeline gets the caller's remaining
//   time plus a second as its timeout (at most 30 s).
// - Cut-outs are cached by the sha256 of the source bytes and the model's identity (cache.ts), and
//   concurrent calls for the same bytes share one run: a batch with one photo removes it once.
// - Waiting for a slot ends 100 ms before the deadline with a retryable error (the engine was busy,
//   which another attempt may not find). A model run cannot be interrupted, so a removal that has
//   started runs to its end, frees its slot and fills the cache (a retry of the same render then
//   finds it), while the caller is answered at its deadline (RENDER_TIMEOUT).
import { createHash } from "node:crypto";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { PROJECT_ROOT } from "../project-root.js";
import { CutoutCache } from "./background-removal/cache.js";
import { Slots } from "./background-removal/slots.js";
import { RenderError, type RenderErrorCode } from "./errors.js";
// (images.ts loads sharp in this thread before any engine thread does, as sharp asks.)
import { rasterHeader } from "./images.js";

export interface BackgroundRemovalSettings {
  /** The ONNX model; default <project root>/models/u2netp.onnx. */
  modelPath?: string;
  /** The model's square input, px; default 320. */
  inputSize?: number;
  /** Removals running at once in this process (one engine thread each); default 1. */
  concurrency?: number;
  /** Bytes of cut-outs kept in memory, by source content; default 64 MiB (0: no cache). */
  cacheMaxBytes?: number;
  /** onnxruntime intra-op threads per engine thread; default 1. */
  threads?: number;
  /** Longest side of the cut-out, px: larger sources are scaled down to it; default 2048. */
  maxSide?: number;
}

const DEFAULT_BACKGROUND_REMOVAL_MODEL = path.join(PROJECT_ROOT, "models", "u2netp.onnx");
const DEFAULT_CUTOUT_MAX_SIDE = 2048;
/**
 * Source pixels a removal takes (from the header). Below images.ts's MAX_IMAGE_PIXELS: a removal
 * decodes the whole source at full depth before scaling it down, and a crafted 49-megapixel 16-bit
 * interlaced PNG of 4 MB took seconds and half a GB.
 */
const MAX_CUTOUT_PIXELS = 25_000_000;
/** The longest any sharp pipeline of a removal may take; less when the caller has less time left. */
const MAX_SHARP_TIMEOUT_SECONDS = 30;
/** The slot wait gives up this long before the deadline, so that its error is the one recorded. */
const SLOT_WAIT_MARGIN_MS = 100;
const THREAD_FILE = new URL("./background-removal/thread.mjs", import.meta.url);
const WHERE = "background removal: the source image";

/** What an engine thread answers (see thread.mjs). */
interface Reply {
  id: number;
  data?: ArrayBuffer;
  error?: { code: RenderErrorCode; message: string; retryable: boolean };
  counters: { loads: number; loadMs: number; runs: number };
}

/** An engine thread and the requests it has not answered yet. */
interface EngineThread {
  worker: Worker;
  /** [0] is 1 while the thread is inside onnxruntime (see thread.mjs). */
  native: Int32Array;
  pending: Map<number, { resolve: (data: Buffer | undefined) => void; reject: (err: Error) => void }>;
  /** Holds a slot's removal now. */
  busy: boolean;
}

interface State {
  settings: { modelPath: string; inputSize: number; threads: number; maxSide: number };
  slots: Slots;
  cache: CutoutCache;
  /** One per slot, started on first use; undefined when not started or dead. */
  threads: Array<EngineThread | undefined>;
  /** Counters, see backgroundRemovalStats. */
  modelLoads: number;
  modelLoadMs: number;
  modelRuns: number;
  /** Removals done (cache misses that ran to the end). */
  removals: number;
  cacheHits: number;
  sharedRuns: number;
}

let state: State | undefined;
const inflight = new Map<string, Promise<Buffer>>();
let nextRequestId = 1;

function makeState(settings: BackgroundRemovalSettings = {}): State {
  const positive = (value: number | undefined, fallback: number, name: string) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`background removal: ${name} must be a positive integer`);
    return v;
  };
  const concurrency = positive(settings.concurrency, 1, "concurrency");
  return {
    settings: {
      modelPath: path.resolve(settings.modelPath ?? DEFAULT_BACKGROUND_REMOVAL_MODEL),
      inputSize: positive(settings.inputSize, 320, "inputSize"),
      threads: positive(settings.threads, 1, "threads"),
      maxSide: positive(settings.maxSide, DEFAULT_CUTOUT_MAX_SIDE, "maxSide"),
    },
    slots: new Slots(concurrency),
    cache: new CutoutCache(Math.max(0, settings.cacheMaxBytes ?? 64 * 1024 * 1024)),
    threads: Array.from({ length: concurrency }, () => undefined),
    modelLoads: 0,
    modelLoadMs: 0,
    modelRuns: 0,
    removals: 0,
    cacheHits: 0,
    sharedRuns: 0,
  };
}

/**
 * Set the engine's settings (at startup; also clears the cache and the counters, and stops the
 * engine threads: removals running on them fail, retryable). The model is loaded on the first
 * removal after this, not here. Without a call, the defaults apply.
 */
export function configureBackgroundRemoval(settings?: BackgroundRemovalSettings): void {
  const old = state;
  state = makeState(settings);
  inflight.clear();
  if (old) void stopThreads(old);
}

/**
 * Stop the engine threads: each exits between two calls into onnxruntime (one cannot be stopped
 * inside one: worker.terminate() there aborts the process), and removals it had not answered fail,
 * retryable. The next removal starts new threads.
 */
export async function stopBackgroundRemovalThreads(): Promise<void> {
  if (state) await stopThreads(state);
}

async function stopThreads(s: State): Promise<void> {
  const workers = s.threads.filter((t) => t !== undefined).map((t) => t.worker);
  s.threads.fill(undefined);
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          w.once("exit", () => resolve());
          w.postMessage({ op: "exit" });
        }),
    ),
  );
}

/** Engine threads alive in this process, of any configuration. */
const live = new Set<EngineThread>();

/**
 * When the process exits, Node stops its threads wherever they are, and a thread stopped inside
 * onnxruntime aborts the process (SIGABRT instead of the exit code asked for): wait for those in
 * a model load or run to come out of it (a fraction of a second; at most 5 s).
 */
function waitForNativeCallsAtExit(): void {
  for (const t of live) if (Atomics.load(t.native, 0) === 1) Atomics.wait(t.native, 0, 1, 5000);
}

function current(): State {
  return (state ??= makeState());
}

/** Start engine thread `index` of `s`. */
function startThread(s: State, index: number): EngineThread {
  const native = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(THREAD_FILE, { workerData: { ...s.settings, maxPixels: MAX_CUTOUT_PIXELS, native } });
  const thread: EngineThread = { worker, native, pending: new Map(), busy: false };
  if (live.size === 0) process.once("exit", waitForNativeCallsAtExit);
  live.add(thread);
  // An idle thread does not keep the process alive (see request, which refs it while it works).
  worker.unref();
  worker.on("message", (reply: Reply) => {
    s.modelLoads += reply.counters.loads;
    if (reply.counters.loads > 0) s.modelLoadMs = reply.counters.loadMs;
    s.modelRuns += reply.counters.runs;
    const waiter = thread.pending.get(reply.id);
    if (!waiter) return;
    thread.pending.delete(reply.id);
    if (thread.pending.size === 0) worker.unref();
    if (reply.error) {
      const { code, message, retryable } = reply.error;
      waiter.reject(new RenderError(code, message, { retryable }));
    } else waiter.resolve(reply.data ? Buffer.from(reply.data) : undefined);
  });
  let died = false;
  const die = (why: string, cause?: unknown) => {
    if (died) return;
    died = true;
    live.delete(thread);
    if (live.size === 0) process.off("exit", waitForNativeCallsAtExit);
    if (s.threads[index] === thread) s.threads[index] = undefined;
    for (const waiter of thread.pending.values()) {
      waiter.reject(
        new RenderError("RENDER_FAILED", `background removal failed: its engine thread ${why}; retried`, {
          cause,
          retryable: true,
        }),
      );
    }
    thread.pending.clear();
  };
  worker.on("error", (err) => die(`failed (${err.message})`, err));
  worker.on("exit", (code) => die(`stopped (exit code ${code})`));
  return thread;
}

/** Send a request to `thread`; resolves with the reply's bytes. */
function request(
  thread: EngineThread,
  message: { op: "load" } | { op: "remove"; source: ArrayBuffer; timeoutSeconds: number },
): Promise<Buffer | undefined> {
  const id = nextRequestId++;
  return new Promise((resolve, reject) => {
    thread.pending.set(id, { resolve, reject });
    thread.worker.ref(); // working: the process waits for it
    try {
      thread.worker.postMessage({ id, ...message }, message.op === "remove" ? [message.source] : []);
    } catch (err) {
      thread.pending.delete(id);
      if (thread.pending.size === 0) thread.worker.unref();
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/** An idle engine thread of `s` (one that has run before, if any), started if need be. */
function idleThread(s: State): EngineThread {
  let free = -1;
  for (let i = 0; i < s.threads.length; i++) {
    const t = s.threads[i];
    if (t && !t.busy) return t;
    if (!t && free < 0) free = i;
  }
  // The slots let at most `concurrency` removals run, one per thread: a free index exists.
  if (free < 0) throw new Error("background removal: no idle engine thread for a granted slot");
  return (s.threads[free] = startThread(s, free));
}

export interface BackgroundRemovalStats {
  /** Model sessions created (one per engine thread that has worked; more after configure). */
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
    modelLoads: s.modelLoads,
    modelLoadMs: s.modelLoadMs,
    modelRuns: s.modelRuns,
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
 * a broken BACKGROUND_REMOVAL_MODEL shows at once): on the engine thread the next removal will
 * use, started if need be. Throws the same RenderError a removal would.
 */
export async function loadBackgroundRemovalModel(): Promise<void> {
  const s = current();
  await request(s.threads.find((t) => t !== undefined) ?? idleThread(s), { op: "load" });
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

const busyError = () =>
  new RenderError("RENDER_FAILED", "background removal was busy: no slot within the render's time budget; retried", {
    retryable: true,
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
 * RenderError (a clean render failure) for undecodable/oversized input (more than
 * MAX_CUTOUT_PIXELS), a missing or broken model, an abort, a timeout, or no free slot before the
 * deadline (retryable); never crashes the process. The returned buffer is shared with the cache:
 * do not modify it.
 */
export async function removeBackground(source: Buffer, options: RemoveOptions = {}): Promise<Buffer> {
  const s = current();
  const { signal, deadline } = options;
  if (signal?.aborted) throw abortError(signal);
  if (deadline !== undefined && Date.now() >= deadline) throw timeoutError();
  const key = createHash("sha256")
    .update(source)
    .update(JSON.stringify([s.settings.modelPath, s.settings.inputSize, s.settings.maxSide]))
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
  // The slot wait ends before the deadline (the render's own timer would otherwise answer first,
  // with a timeout that is not retried), but never refuses a free slot.
  const slotDeadline = deadline === undefined ? undefined : Math.max(deadline - SLOT_WAIT_MARGIN_MS, Date.now() + 1);
  const run = (async () => {
    const release = await s.slots.acquire(options.fairnessKey, slotDeadline, signal, busyError, () =>
      abortError(signal!),
    );
    try {
      const cutout = await cutOut(s, source, deadline);
      s.removals++;
      s.cache.put(key, cutout);
      return cutout;
    } finally {
      release();
    }
  })();
  inflight.set(key, run);
  const forget = () => {
    if (inflight.get(key) === run) inflight.delete(key);
  };
  run.then(forget, forget);
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

/** Check the header here, then decode, mask, compose and encode on an engine thread. Runs inside a slot. */
async function cutOut(s: State, source: Buffer, deadline: number | undefined): Promise<Buffer> {
  if (source.length === 0) {
    throw new RenderError("IMAGE_DECODE_FAILED", `${WHERE} could not be decoded: it is empty (0 bytes)`);
  }
  // Format and pixel count from the header alone: the limits image layers have, and a lower one.
  const { width = 0, height = 0 } = await rasterHeader(source, WHERE);
  if (width * height > MAX_CUTOUT_PIXELS) {
    throw new RenderError(
      "IMAGE_TOO_LARGE",
      `${WHERE} is too large: remove_background takes images up to ${MAX_CUTOUT_PIXELS / 1_000_000} megapixels; ` +
        `this one is ${Math.round((width * height) / 100_000) / 10} (${width}x${height})`,
    );
  }
  const remainingMs = deadline === undefined ? Infinity : deadline - Date.now();
  const timeoutSeconds = Math.max(1, Math.min(MAX_SHARP_TIMEOUT_SECONDS, Math.ceil((remainingMs + 1000) / 1000)));
  const bytes = new Uint8Array(source); // (a copy of its own, transferred to the thread)
  const thread = idleThread(s);
  thread.busy = true;
  try {
    const cutout = await request(thread, { op: "remove", source: bytes.buffer, timeoutSeconds });
    if (!cutout) throw new Error("background removal: the engine thread answered no image");
    return cutout;
  } finally {
    thread.busy = false;
  }
}
