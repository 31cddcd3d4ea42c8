// SVG images (image layers and image backgrounds whose URL serves SVG).
//
// Accepted, within these limits:
// - at most MAX_SVG_BYTES (1 MiB) of SVG; gzip-compressed SVG (svgz) is refused (its expanded
//   size is unknown until it is expanded);
// - the declared size counts against the decode pixel limit like any image (MAX_IMAGE_PIXELS,
//   and the per-render total in budget.ts), but the SVG is drawn at the layer's box size, never
//   at its declared size, and only the part of the box on the canvas is drawn;
// - parsed and drawn in a child process (svg-child.mjs), never in the render process, killed with
//   SIGKILL when the render's budget (RENDER_TIMEOUT_MS) runs out or the render fails; sharp's
//   timeout is set inside it too.
// Filters are not refused: refusing them by scanning the text is unreliable (character
// references, entities and CSS escapes spell `filter` otherwise, and CSS filter functions such as
// `filter: blur()` need no <filter> element), and filters are not the only slow construct. Measured
// on the development machine (librsvg 2.63, one thread): a 376-byte SVG with one chain of
// feTurbulence + feGaussianBlur + feMorphology took 0.9 s at 500x500 and 3.7 s at 1000x1000;
// three such chains ran 10.7 s past a 1 s sharp timeout, because libvips checks the timeout only
// between tiles. A killed process is the only bound that holds, so that is the bound.
// Cost of the isolation: about 0.1 s to start the process, per SVG drawn (fitted results are
// cached like other images).
import { fork, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Rect } from "./raster.js";

export const MAX_SVG_BYTES = 1024 * 1024;
const CHILD = fileURLToPath(new URL("./svg-child.mjs", import.meta.url));

/**
 * "svg" when the body is (or may be) SVG/XML text, "svgz" when it is gzip data, else null. Raster
 * formats start with binary magic numbers; text starts with "<" (after a byte order mark and
 * white space) or is UTF-16. (Text that libvips still reads as SVG is refused by images.ts.)
 */
export function svgKind(body: Buffer): "svg" | "svgz" | null {
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return "svgz";
  if (body.length >= 2 && ((body[0] === 0xfe && body[1] === 0xff) || (body[0] === 0xff && body[1] === 0xfe)))
    return "svg";
  let i = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d)) i++;
  return body[i] === 0x3c ? "svg" : null;
}

export interface SvgMeta {
  format: string | undefined;
  width: number | undefined;
  height: number | undefined;
}

export interface FitPlan {
  resize: { width: number; height: number; fit: "fill" | "contain" };
  extract: Rect;
}

export interface Raster {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
  depth: string | undefined;
}

/** The rasteriser process failed (could not start, or stopped without answering): not the SVG's fault, perhaps. */
export class SvgProcessError extends Error {}

/** The SVG needed more memory than one drawing may have: the SVG's fault (e.g. huge embedded images). */
export class SvgMemoryError extends Error {}

/**
 * Resident memory one SVG drawing may use. An SVG's declared size says little about its cost:
 * embedded data: images, filters and patterns allocate what they like. The child's RSS is read
 * from /proc every SVG_RSS_CHECK_MS and the process killed past this (Linux; elsewhere the
 * render's time budget is the only bound).
 */
const SVG_MAX_RSS_BYTES = 512 * 1024 * 1024;
const SVG_RSS_CHECK_MS = 25;
const PAGE_BYTES = 4096;

type Reply = ({ op: "meta" } & SvgMeta) | ({ op: "raster" } & Raster) | { op?: undefined; error: string };

// Only what librsvg, fontconfig and libvips may read; the render process's secrets stay there.
const ENV_KEYS = /^(PATH|HOME|TMPDIR|LANG|LC_[A-Z]+|FONTCONFIG_[A-Z_]+|XDG_[A-Z_]+|VIPS_[A-Z_]+)$/;

/** One SVG image in its own process. Always close() it. */
export class SvgRasterizer {
  private readonly child: ChildProcess;
  private exited = false;
  private stderr = "";
  private overMemory = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(private readonly signal: AbortSignal) {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => ENV_KEYS.test(k)));
    this.child = fork(CHILD, [], {
      execArgv: [],
      serialization: "advanced",
      env,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      if (this.stderr.length < 2000) this.stderr += chunk.toString("utf8");
    });
    this.child.on("exit", () => {
      this.exited = true;
      clearInterval(this.watchdog);
    });
    this.child.on("error", () => {}); // reported by request()
    this.watchdog = setInterval(() => void this.checkMemory(), SVG_RSS_CHECK_MS);
    this.watchdog.unref();
  }

  private async checkMemory(): Promise<void> {
    const pid = this.child.pid;
    if (this.exited || pid === undefined) return;
    let statm: string;
    try {
      statm = await readFile(`/proc/${pid}/statm`, "utf8");
    } catch {
      return; // gone, or no /proc here
    }
    const rss = Number(statm.split(" ")[1]) * PAGE_BYTES;
    if (rss > SVG_MAX_RSS_BYTES && !this.exited) {
      this.overMemory = true;
      this.child.kill("SIGKILL");
    }
  }

  private request(msg: object): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        this.child.off("error", onError);
        this.signal.removeEventListener("abort", onAbort);
      };
      const onMessage = (reply: Reply) => {
        cleanup();
        resolve(reply);
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        cleanup();
        const detail = this.stderr.trim().split("\n").pop();
        if (this.overMemory) {
          reject(
            new SvgMemoryError(`drawing the SVG needed more than ${SVG_MAX_RSS_BYTES / 1024 / 1024} MiB of memory`),
          );
          return;
        }
        reject(
          new SvgProcessError(
            `the SVG rasteriser stopped (${sig ?? `exit code ${code}`})${detail ? `: ${detail}` : ""}`,
          ),
        );
      };
      const onError = (err: Error) => {
        cleanup();
        this.close();
        reject(new SvgProcessError(`the SVG rasteriser failed: ${err.message}`, { cause: err }));
      };
      const onAbort = () => {
        cleanup();
        this.close();
        reject(this.signal.reason instanceof Error ? this.signal.reason : new Error("aborted"));
      };
      if (this.signal.aborted) return onAbort();
      this.child.on("message", onMessage);
      this.child.on("exit", onExit);
      this.child.on("error", onError);
      this.signal.addEventListener("abort", onAbort, { once: true });
      this.child.send(msg, (err) => {
        if (err) onError(err);
      });
    });
  }

  /** The SVG's format and declared size, as libvips reads them (in the child). */
  async meta(svg: Buffer): Promise<SvgMeta> {
    const reply = await this.request({ op: "meta", svg });
    if (reply.op !== "meta") throw new Error("error" in reply ? reply.error : "unexpected answer");
    return { format: reply.format, width: reply.width, height: reply.height };
  }

  /** Draw the SVG given to meta() as planned: raw RGBA of the plan's extract size. */
  async render(plan: FitPlan, maxPixels: number, timeoutSeconds: number): Promise<Raster> {
    const reply = await this.request({ op: "render", plan, maxPixels, timeoutSeconds });
    if (reply.op !== "raster") throw new Error("error" in reply ? reply.error : "unexpected answer");
    const data = Buffer.isBuffer(reply.data)
      ? reply.data
      : Buffer.from(
          (reply.data as Uint8Array).buffer,
          (reply.data as Uint8Array).byteOffset,
          (reply.data as Uint8Array).byteLength,
        );
    return { ...reply, data };
  }

  close(): void {
    clearInterval(this.watchdog);
    if (!this.exited) this.child.kill("SIGKILL");
  }
}
