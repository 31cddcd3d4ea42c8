// Background removal as the renderer uses it: the engine (background-removal.ts: the ONNX model,
// its concurrency limit and its cache by content) loaded on the first removal, not before. The
// engine brings onnxruntime-node and, once used, a model session of 100-300 MB: processes that
// never remove a background (the API, a worker rendering only ordinary templates) never pay for
// it (the engine starts its threads, which load onnxruntime-node, only for its first removal too;
// this keeps even the module out until then). Settings given before it is loaded are applied when
// it is.
import type { BackgroundRemovalSettings } from "./background-removal.js";
import { RenderError } from "./errors.js";

/** Settings given since the engine last took some: applied by the next removal, once loaded. */
let pending: BackgroundRemovalSettings | undefined;

/** Set the engine's settings (model file, input size, concurrency, cache). Call once at worker start. */
export function configureBackgroundRemoval(settings: BackgroundRemovalSettings = {}): void {
  pending = settings;
}

/**
 * `source` (encoded image bytes, already checked as a raster image within the pixel limits) with
 * its background removed: a PNG of the same size whose alpha is the subject's mask. `where` names
 * the layer in errors. Rejects with RenderError only.
 */
export async function cutOut(
  source: Buffer,
  where: string,
  opts: { signal: AbortSignal; deadline: number; fairnessKey?: string },
): Promise<Buffer> {
  try {
    // Loaded once by Node and then shared; a failed load (a missing native module) is tried again
    // by the next removal.
    const engine = await import("./background-removal.js");
    if (pending) {
      engine.configureBackgroundRemoval(pending);
      pending = undefined;
    }
    return await engine.removeBackground(source, opts);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    // The engine's messages say "background removal: …" already; others get it said.
    const message = reason.startsWith("background removal") ? reason : `background removal failed: ${reason}`;
    if (err instanceof RenderError) {
      // A timeout or abort is the render's own error, whose message the budget words.
      if (err.code === "RENDER_TIMEOUT") throw err;
      throw new RenderError(err.code, `${where}: ${message}`, {
        cause: err,
        retryable: err.retryable,
      });
    }
    // The engine could not load or run (not the image's fault): another attempt may do better.
    throw new RenderError("RENDER_FAILED", `${where}: ${message}`, {
      cause: err,
      retryable: true,
    });
  }
}
