// The saliency model: an ONNX file run by onnxruntime-node on the CPU, loaded once per process on
// first use (a process that never removes a background never loads the runtime or the weights).
// Any U²-Net-family model with the same pre- and post-processing fits: input 1x3xSxS float32 RGB,
// output[0] 1x1xSxS saliency (U²-Net, U²-Net-p, ISNet, BiRefNet exports as rembg uses them).
import { existsSync } from "node:fs";
import type { InferenceSession } from "onnxruntime-node";
import { RenderError } from "../errors.js";

export interface ModelSettings {
  path: string;
  inputSize: number;
  threads: number;
}

/** ImageNet statistics the U²-Net family was trained with. */
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export class SaliencyModel {
  private session: Promise<InferenceSession> | undefined;
  /** Sessions created (the model file read and optimised); for tests and the bench. */
  loads = 0;
  /** Inference runs. */
  runs = 0;
  /** Milliseconds the last successful load took. */
  loadMs = 0;

  constructor(readonly settings: ModelSettings) {}

  /**
   * The session, loaded on first use. A failed load is not kept: the next call tries again (the
   * operator may have fixed the file), and the error names the file, for the operator reading
   * the job's error.
   */
  load(): Promise<InferenceSession> {
    this.session ??= this.create().catch((err: unknown) => {
      this.session = undefined;
      throw err;
    });
    return this.session;
  }

  private async create(): Promise<InferenceSession> {
    const file = this.settings.path;
    // Not retryable: the same job would find the same file.
    if (!existsSync(file)) {
      throw new RenderError(
        "RENDER_FAILED",
        `background removal is unavailable: the model file ${file} does not exist (BACKGROUND_REMOVAL_MODEL)`,
      );
    }
    const started = performance.now();
    try {
      // Imported here, not at the top: the native runtime (tens of MB) is loaded only by a process
      // that removes a background.
      const ort = await import("onnxruntime-node");
      const session = await ort.InferenceSession.create(file, {
        executionProviders: ["cpu"],
        // The arena keeps the largest activations allocated between runs (hundreds of MB for
        // U²-Net); without it, memory goes back after each run at a small cost in speed.
        enableCpuMemArena: false,
        graphOptimizationLevel: "all",
        intraOpNumThreads: this.settings.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        logSeverityLevel: 3, // errors only: its warnings about unused initialisers are noise in logs
      });
      this.loads++;
      this.loadMs = performance.now() - started;
      return session;
    } catch (err) {
      throw new RenderError(
        "RENDER_FAILED",
        `background removal is unavailable: the model file ${file} could not be loaded as an ONNX model ` +
          `(${err instanceof Error ? err.message : String(err)})`,
        { cause: err },
      );
    }
  }

  /**
   * The saliency mask of an image already resized to inputSize x inputSize (raw RGB, 3 bytes per
   * pixel): inputSize² bytes, 0 (background) to 255 (subject), min-max normalised as U²-Net's own
   * inference code does.
   */
  async mask(rgb: Buffer): Promise<Buffer> {
    const session = await this.load();
    const ort = await import("onnxruntime-node");
    const size = this.settings.inputSize;
    const plane = size * size;
    if (rgb.length !== plane * 3) throw new Error(`model input is ${rgb.length} bytes, expected ${plane * 3}`);
    // Scaled by the image's maximum (not 255), as the reference preprocessing does: a dark photo
    // is stretched to the full range before normalising.
    let max = 0;
    for (let i = 0; i < rgb.length; i++) if (rgb[i]! > max) max = rgb[i]!;
    const scale = 1 / Math.max(max, 1e-6);
    const input = new Float32Array(plane * 3);
    for (let c = 0; c < 3; c++) {
      const mean = MEAN[c]!;
      const std = STD[c]!;
      const offset = c * plane;
      for (let p = 0; p < plane; p++) input[offset + p] = (rgb[p * 3 + c]! * scale - mean) / std;
    }
    const feeds = { [session.inputNames[0]!]: new ort.Tensor("float32", input, [1, 3, size, size]) };
    // One output is enough (the fused map); the side outputs are computed anyway by the graph.
    let outputs: InferenceSession.ReturnType;
    try {
      outputs = await session.run(feeds, [session.outputNames[0]!]);
    } catch (err) {
      // Most likely a model with another input size than settings.inputSize.
      throw new RenderError(
        "RENDER_FAILED",
        `background removal: the model ${this.settings.path} failed on a ${size}x${size} input ` +
          `(${err instanceof Error ? err.message : String(err)})`,
        { cause: err },
      );
    }
    this.runs++;
    const out = outputs[session.outputNames[0]!]!;
    const data = out.data as Float32Array;
    if (data.length !== plane) {
      throw new RenderError(
        "RENDER_FAILED",
        `background removal: the model ${this.settings.path} gave an output of ${out.dims.join("x")}, expected 1x1x${size}x${size} ` +
          `(is its input size ${size}? see BackgroundRemovalSettings.inputSize)`,
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
    for (let p = 0; p < plane; p++) mask[p] = Math.round((data[p]! - lo) * k);
    for (const t of Object.values(outputs)) t.dispose();
    return mask;
  }

  /** Forget the session (after a settings change); a run still holding it finishes. */
  dispose(): void {
    this.session = undefined;
  }
}
