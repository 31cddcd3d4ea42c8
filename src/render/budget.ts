// A render's budgets that can only be enforced while it runs: the wall-clock deadline
// (RenderOptions.timeoutMs, RENDER_TIMEOUT_MS in the worker) and the source pixels decoded (known
// only once each image's header is read). The pixel work a document asks for (output size, layer
// coverage) is known before rendering: see renderBudgetProblem in src/templates/document.ts.
//
// One RenderBudget per render. Its AbortSignal ends the render's fetches and kills its SVG
// rasteriser processes; `race` makes every await of the render give up at the first failure (the
// deadline or a layer's error), so the job ends within the budget even when a libvips operation
// is still running: libvips checks sharp's per-pipeline timeout only between tiles, and a thread
// cannot be stopped from JavaScript. What keeps that leftover work bounded: every pipeline gets
// the remaining budget as its sharp timeout, at most a few layers are prepared at once, and the
// one input libvips could spend unbounded time on (SVG) is rasterised in a child process that is
// killed (see svg.ts).
import { RenderError } from "./errors.js";

export const DEFAULT_RENDER_TIMEOUT_MS = 15_000;
/** Source pixels (width x height from the headers) one render may decode, all its images together. */
export const MAX_RENDER_SOURCE_PIXELS = 200_000_000;

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export class RenderBudget {
  readonly deadline: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private firstError: RenderError | undefined;
  /** race() calls waiting: told at the first failure. */
  private readonly waiting = new Set<(err: RenderError) => void>();
  private sourcePixels = 0;
  private decodeQueue: Promise<unknown> = Promise.resolve();

  /** `spentMs`: what an earlier stage of the same job already used of `timeoutMs` (its image downloads). */
  constructor(
    readonly timeoutMs: number,
    spentMs = 0,
  ) {
    const remaining = timeoutMs - Math.max(0, spentMs);
    this.deadline = Date.now() + remaining;
    this.timer = setTimeout(() => this.expire(), Math.max(0, remaining));
    this.timer.unref();
    if (remaining <= 0) this.expire();
  }

  /** Aborted at the first failure: pending fetches stop, SVG rasterisers are killed. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The first failure, if any. */
  get error(): RenderError | undefined {
    return this.firstError;
  }

  /** Record a failure; the first one is what the render reports. */
  fail(err: unknown): void {
    if (this.firstError) return;
    this.firstError =
      err instanceof RenderError
        ? err
        : new RenderError("RENDER_FAILED", err instanceof Error ? err.message : String(err), {
            cause: err,
            retryable: true,
          });
    this.controller.abort(this.firstError);
    for (const reject of this.waiting) reject(this.firstError);
    this.waiting.clear();
  }

  /**
   * `p`, unless the render fails first: then the render's (first) error. (Not Promise.race with a
   * promise that rejects at the failure: every such race would stay attached to it, and keep its
   * result, an overlay, alive until the render ends.)
   */
  race<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.firstError) return reject(this.firstError);
      this.waiting.add(reject);
      p.then(
        (value) => {
          this.waiting.delete(reject);
          resolve(value);
        },
        (err: unknown) => {
          this.waiting.delete(reject);
          reject(this.firstError ?? (err instanceof Error ? err : new Error(String(err))));
        },
      );
    });
  }

  /**
   * The render's error when `err` is a consequence of it: the render already failed (an aborted
   * fetch, a killed rasteriser), or `err` is sharp's own timeout, which counts as the deadline
   * (sharp's timeout is the remaining budget rounded up, so it rarely fires first).
   */
  errorFor(err: unknown): RenderError | undefined {
    if (!this.firstError && err instanceof Error && /^timeout: /.test(err.message)) this.expire();
    return this.firstError;
  }

  private expire(): void {
    this.fail(
      new RenderError("RENDER_TIMEOUT", `render exceeded the ${seconds(this.timeoutMs)} budget (RENDER_TIMEOUT_MS)`),
    );
  }

  /** Throw the render's error if it has failed (between steps of synchronous work). */
  check(): void {
    if (this.firstError) throw this.firstError;
  }

  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /** For sharp's timeout({ seconds }): whole seconds, 1 to 3600, rounded up. */
  sharpSeconds(): number {
    return Math.min(3600, Math.max(1, Math.ceil(this.remainingMs() / 1000)));
  }

  /** Count an image's source pixels against MAX_RENDER_SOURCE_PIXELS. */
  chargeSourcePixels(pixels: number, where: string): void {
    this.sourcePixels += pixels;
    if (this.sourcePixels > MAX_RENDER_SOURCE_PIXELS) {
      throw new RenderError(
        "IMAGE_TOO_LARGE",
        `${where}: with the images before it, this render would decode ${Math.round(this.sourcePixels / 100_000) / 10} megapixels of source ` +
          `images, more than the ${MAX_RENDER_SOURCE_PIXELS / 1_000_000}-megapixel limit per render`,
      );
    }
  }

  /**
   * Run `fn` when this render's previous decodes are done: one image decode at a time, so a
   * render holds at most one source image's decode buffers. Not started once the render failed.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const start = () => {
      this.check();
      return fn();
    };
    const run = this.decodeQueue.then(start, start);
    this.decodeQueue = run.then(
      () => {},
      () => {},
    ); // (not the result: it would stay alive until the next decode)
    return run;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
