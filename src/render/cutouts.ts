// Background removal as the renderer uses it: the engine (background-removal.ts: the ONNX model,
// its concurrency limit and its cache by content) loaded on the first removal, not before. The
// engine brings onnxruntime-node and, once used, a model session of 100-300 MB: processes that
// never remove a background (the API, a worker rendering only ordinary templates) never pay for
// it. Settings given before the engine is loaded are applied when it is.
import type { BackgroundRemovalSettings } from "./background-removal.js";
import { RenderError } from "./errors.js";

export type { BackgroundRemovalSettings };

type Engine = typeof import("./background-removal.js");

let settings: BackgroundRemovalSettings | undefined;
let engine: Promise<Engine> | undefined;

/** Set the engine's settings (model file, input size, concurrency, cache). Call once at worker start. */
export function configureBackgroundRemoval(next: BackgroundRemovalSettings = {}): void {
  settings = next;
  // Already loaded: apply now; otherwise loadEngine applies them.
  if (engine) void engine.then((e) => e.configureBackgroundRemoval(next)).catch(() => undefined);
}

function loadEngine(): Promise<Engine> {
  engine ??= import("./background-removal.js").then((e) => {
    if (settings) e.configureBackgroundRemoval(settings);
    return e;
  });
  // A failed load (a missing native module) is tried again by the next removal.
  engine.catch(() => (engine = undefined));
  return engine;
}

/**
 * `source` (encoded image bytes, already checked as a raster image within the pixel limits) with
 * its background removed: a PNG of the same size whose alpha is the subject's mask. `where` names
 * the layer in errors. Rejects with RenderError only.
 */
export async function cutOut(
  source: Buffer,
  where: string,
  opts: { signal: AbortSignal; deadline: number },
): Promise<Buffer> {
  try {
    const { removeBackground } = await loadEngine();
    return await removeBackground(source, opts);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RenderError) {
      // A timeout or abort is the render's own error, whose message the budget words.
      if (err.code === "RENDER_TIMEOUT") throw err;
      throw new RenderError(err.code, `${where}: background removal failed: ${message}`, {
        cause: err,
        retryable: err.retryable,
      });
    }
    // The engine could not load or run (not the image's fault): another attempt may do better.
    throw new RenderError("RENDER_FAILED", `${where}: background removal failed: ${message}`, {
      cause: err,
      retryable: true,
    });
  }
}
