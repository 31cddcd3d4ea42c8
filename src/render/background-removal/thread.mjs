// One background-removal engine thread (a node:worker_threads Worker started by
// background-removal.ts, one per concurrency slot; plain JavaScript so it starts without a
// TypeScript loader). onnxruntime-node runs a model synchronously on the thread that calls it, and
// a run takes a core for a fraction of a second: here it blocks this thread, never the render
// worker's event loop (its fetches, other renders, queue lock renewals, deadline timers).
//
// The saliency model is an ONNX file run on the CPU, loaded on this thread's first use. Any
// U²-Net-family model with the same pre- and post-processing fits: input 1x3xSxS float32 RGB,
// output[0] 1x1xSxS saliency (U²-Net, U²-Net-p, ISNet, BiRefNet exports as rembg uses them).
//
// onnxruntime-node cannot be stopped inside a native call: a thread terminated (worker.terminate(),
// or the process exiting) while it loads or runs the model aborts the whole process. So this
// thread is never terminated from outside; it exits when told to ("exit", handled between calls),
// and it sets `native[0]` to 1 while in one, for the parent to wait on before the process exits.
//
// workerData: { modelPath, inputSize, threads, maxSide, maxPixels, native (Int32Array, shared) }
// Protocol (postMessage), any number in flight:
//   parent -> { id, op: "load" }                          thread -> { id, counters }
//   parent -> { id, op: "remove", source, timeoutSeconds } thread -> { id, data, counters }
//   parent -> { op: "exit" }                              (the thread exits; unanswered requests fail)
// `source` and `data` are ArrayBuffers (transferred). A failure answers { id, error: { code,
// message, retryable }, counters }. `counters` are the model loads (and the last one's ms) and
// runs since the previous reply, for backgroundRemovalStats.
//
// sharp's settings (cache, concurrency) are process-wide: this thread leaves them to the main one.
import { existsSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import sharp from "sharp";

const { modelPath, inputSize, threads, maxSide, maxPixels, native } = workerData;
const MODEL_NAME = path.basename(modelPath);
const WHERE = "background removal: the source image";

/** ImageNet statistics the U²-Net family was trained with. */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

class EngineError extends Error {
  constructor(code, message, retryable = false) {
    super(message);
    this.code = code;
    this.retryable = retryable;
  }
}

/** The error's message, with the model's full path (onnxruntime's messages carry it) cut to its name. */
const errorMessage = (err) => (err instanceof Error ? err.message : String(err)).split(modelPath).join(MODEL_NAME);

/** `fn()` (a call into onnxruntime), flagged in `native` until it has returned to JavaScript. */
async function inNative(fn) {
  Atomics.store(native, 0, 1);
  try {
    return await fn();
  } finally {
    Atomics.store(native, 0, 0);
    Atomics.notify(native, 0);
  }
}

/** Counted since the last reply. */
const counters = { loads: 0, loadMs: 0, runs: 0 };

/** @type {Promise<{ ort: typeof import("onnxruntime-node"), session: import("onnxruntime-node").InferenceSession }> | undefined} */
let model;

/**
 * The session, loaded on first use. A failed load is not kept: the next call tries again (the
 * operator may have fixed the file). Errors name the file by its base name only (they reach API
 * callers; the full path is the operator's BACKGROUND_REMOVAL_MODEL).
 */
function load() {
  model ??= create().catch((err) => {
    model = undefined;
    throw err;
  });
  return model;
}

async function create() {
  // Not retryable: the same job would find the same file.
  if (!existsSync(modelPath)) {
    throw new EngineError(
      "RENDER_FAILED",
      `background removal is unavailable: the model file ${MODEL_NAME} does not exist (BACKGROUND_REMOVAL_MODEL)`,
    );
  }
  const started = performance.now();
  try {
    // Imported here: a thread is started only by a process that removes a background.
    const ort = await import("onnxruntime-node");
    const session = await inNative(() =>
      ort.InferenceSession.create(modelPath, {
        executionProviders: ["cpu"],
        // The arena keeps the largest activations allocated between runs (hundreds of MB for
        // U²-Net); without it, memory goes back after each run at a small cost in speed.
        enableCpuMemArena: false,
        graphOptimizationLevel: "all",
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        logSeverityLevel: 3, // errors only: its warnings about unused initialisers are noise in logs
      }),
    );
    counters.loads++;
    counters.loadMs = performance.now() - started;
    return { ort, session };
  } catch (err) {
    throw new EngineError(
      "RENDER_FAILED",
      `background removal is unavailable: the model file ${MODEL_NAME} could not be loaded as an ONNX model ` +
        `(${errorMessage(err)})`,
    );
  }
}

/**
 * The saliency mask of an image already resized to inputSize x inputSize (raw RGB, 3 bytes per
 * pixel): inputSize² bytes, 0 (background) to 255 (subject), min-max normalised as U²-Net's own
 * inference code does.
 */
async function saliency(rgb) {
  const { ort, session } = await load();
  const plane = inputSize * inputSize;
  if (rgb.length !== plane * 3) throw new Error(`model input is ${rgb.length} bytes, expected ${plane * 3}`);
  // Scaled by the image's maximum (not 255), as the reference preprocessing does: a dark photo
  // is stretched to the full range before normalising.
  let max = 0;
  for (let i = 0; i < rgb.length; i++) if (rgb[i] > max) max = rgb[i];
  const scale = 1 / Math.max(max, 1e-6);
  const input = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const mean = MEAN[c];
    const std = STD[c];
    const offset = c * plane;
    for (let p = 0; p < plane; p++) input[offset + p] = (rgb[p * 3 + c] * scale - mean) / std;
  }
  const name = session.outputNames[0];
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input, [1, 3, inputSize, inputSize]) };
  // One output is enough (the fused map); the side outputs are computed anyway by the graph.
  let outputs;
  try {
    outputs = await inNative(() => session.run(feeds, [name]));
  } catch (err) {
    // Most likely a model with another input size than settings.inputSize.
    throw new EngineError(
      "RENDER_FAILED",
      `background removal: the model ${MODEL_NAME} failed on a ${inputSize}x${inputSize} input (${errorMessage(err)})`,
    );
  }
  try {
    counters.runs++;
    const out = outputs[name];
    const data = out.data;
    if (data.length !== plane) {
      throw new EngineError(
        "RENDER_FAILED",
        `background removal: the model ${MODEL_NAME} gave an output of ${out.dims.join("x")}, expected 1x1x${inputSize}x${inputSize} ` +
          `(is its input size ${inputSize}? see BackgroundRemovalSettings.inputSize)`,
      );
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const mask = Buffer.alloc(plane);
    // A flat map says nothing about where the subject is: keep the whole image rather than erase it.
    if (!(hi > lo)) return mask.fill(255);
    const k = 255 / (hi - lo);
    for (let p = 0; p < plane; p++) mask[p] = Math.round((data[p] - lo) * k);
    return mask;
  } finally {
    for (const t of Object.values(outputs)) t.dispose();
  }
}

/** Decode, mask, compose, encode: the cut-out PNG. */
async function cutOut(source, timeoutSeconds) {
  let rgba;
  let small;
  try {
    const decoded = await sharp(source, { limitInputPixels: maxPixels, failOn: "error", autoOrient: true })
      .timeout({ seconds: timeoutSeconds })
      .resize(maxSide, maxSide, { fit: "inside", withoutEnlargement: true })
      .toColourspace("srgb")
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    rgba = { data: decoded.data, width: decoded.info.width, height: decoded.info.height };
    // The model sees the photo squashed to size x size, whatever its aspect ratio, as in
    // U²-Net's reference inference; the mask is stretched back the same way. Transparent pixels
    // are shown to it as white, not as whatever colour they happen to hold.
    small = await sharp(rgba.data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } })
      .timeout({ seconds: timeoutSeconds })
      .flatten({ background: "#ffffff" })
      .resize(inputSize, inputSize, { fit: "fill", kernel: "lanczos3" })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new EngineError("IMAGE_DECODE_FAILED", `${WHERE} could not be decoded: ${errorMessage(err)}`);
  }
  const mask = await saliency(small);
  try {
    const alpha = await sharp(mask, { raw: { width: inputSize, height: inputSize, channels: 1 } })
      .timeout({ seconds: timeoutSeconds })
      .resize(rgba.width, rgba.height, { fit: "fill", kernel: "lanczos3" })
      .extractChannel(0) // (sharp would otherwise hand back a one-channel raw input as sRGB, 3 bytes a pixel)
      .raw()
      .toBuffer();
    const { data } = rgba;
    if (alpha.length * 4 !== data.length)
      throw new Error(`mask of ${alpha.length} pixels for a ${rgba.width}x${rgba.height} image`);
    for (let p = 0, i = 3; p < alpha.length; p++, i += 4) {
      const a = data[i];
      data[i] = a === 255 ? alpha[p] : Math.round((a * alpha[p]) / 255);
    }
    // Level 3: about as small as the default for photos with an alpha channel, markedly faster.
    return await sharp(data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } })
      .timeout({ seconds: timeoutSeconds })
      .png({ compressionLevel: 3 })
      .toBuffer();
  } catch (err) {
    throw new EngineError(
      "RENDER_FAILED",
      `background removal: the cut-out could not be made: ${errorMessage(err)}`,
      true,
    );
  }
}

/** The reply's counters, and start counting again. */
function takeCounters() {
  const taken = { ...counters };
  counters.loads = 0;
  counters.runs = 0;
  return taken;
}

/** `buf` as an ArrayBuffer of its own, to transfer rather than copy. */
function ownArrayBuffer(buf) {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf.buffer;
  return new Uint8Array(buf).buffer;
}

async function handle(msg) {
  if (msg.op === "load") {
    await load();
    return undefined;
  }
  if (msg.op === "remove") return cutOut(Buffer.from(msg.source), msg.timeoutSeconds);
  throw new Error(`unexpected request ${String(msg?.op)}`);
}

parentPort.on("message", (msg) => {
  if (msg.op === "exit") process.exit(0);
  handle(msg).then(
    (data) => {
      const taken = takeCounters();
      if (!data) return parentPort.postMessage({ id: msg.id, counters: taken });
      const out = ownArrayBuffer(data);
      try {
        parentPort.postMessage({ id: msg.id, data: out, counters: taken }, [out]);
      } catch {
        // (a buffer the runtime will not detach: copied instead)
        parentPort.postMessage({ id: msg.id, data: out, counters: taken });
      }
    },
    (err) =>
      parentPort.postMessage({
        id: msg.id,
        error: {
          code: err instanceof EngineError ? err.code : "RENDER_FAILED",
          message: err instanceof EngineError ? err.message : `background removal failed: ${errorMessage(err)}`,
          retryable: err instanceof EngineError ? err.retryable : true,
        },
        counters: takeCounters(),
      }),
  );
});
