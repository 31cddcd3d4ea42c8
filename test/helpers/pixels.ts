// Reading rendered images back, one way for every file: raw pixels with sharp, a pixel's channels,
// the box the ink covers, and a colour check with a tolerance.
import sharp from "sharp";
import { expect } from "vitest";

export interface Pixels {
  /** The raw pixels, row by row, `channels` bytes each. */
  data: Buffer;
  width: number;
  height: number;
  /** 3 (RGB, the default), 4 (RGBA, with `alpha: true`); grey: 1, or 2 when the image has alpha. */
  channels: number;
  /** The channels of the pixel at (x, y). */
  at: (x: number, y: number) => number[];
  /** Bounding box (and count) of the pixels whose colour differs from `bg` by more than `threshold` (sum of channel deltas). */
  inkBox: (
    bg: readonly number[],
    threshold?: number,
    region?: { x0: number; y0: number; x1: number; y1: number },
  ) => { count: number; minX: number; minY: number; maxX: number; maxY: number };
}

/**
 * The pixels of an encoded image: RGB with any alpha dropped (default), RGBA with `alpha: true`
 * (an alpha channel added when missing), or grey with `grey: true` (alpha kept, if any).
 */
export async function readPixels(image: Buffer, opts: { alpha?: boolean; grey?: boolean } = {}): Promise<Pixels> {
  let pipeline = sharp(image);
  pipeline = opts.grey ? pipeline.greyscale() : opts.alpha ? pipeline.ensureAlpha() : pipeline.removeAlpha();
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels;
  const at = (x: number, y: number): number[] => {
    const i = (y * info.width + x) * channels;
    return Array.from(data.subarray(i, i + channels));
  };
  const inkBox: Pixels["inkBox"] = (bg, threshold = 90, region = { x0: 0, y0: 0, x1: info.width, y1: info.height }) => {
    let [minX, minY, maxX, maxY, count] = [Infinity, Infinity, -Infinity, -Infinity, 0];
    for (let y = region.y0; y < region.y1; y++) {
      for (let x = region.x0; x < region.x1; x++) {
        const px = at(x, y);
        let delta = 0;
        for (let c = 0; c < Math.min(px.length, bg.length); c++) delta += Math.abs(px[c]! - bg[c]!);
        if (delta > threshold) {
          count++;
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    return { count, minX, minY, maxX, maxY };
  };
  return { data, width: info.width, height: info.height, channels, at, inkBox };
}

/** The bytes at a URL (a rendered output). */
async function fetchBytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.status, `GET ${url}`).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** The pixels of the image at a URL; options as readPixels. */
export async function readPixelsAt(url: string, opts: { alpha?: boolean; grey?: boolean } = {}): Promise<Pixels> {
  return readPixels(await fetchBytes(url), opts);
}

/** Each channel of `actual` within `tolerance` of `expected`. */
export function expectColor(actual: readonly number[], expected: readonly number[], tolerance = 6): void {
  const ok = actual.length >= expected.length && expected.every((v, i) => Math.abs(actual[i]! - v) <= tolerance);
  expect(ok, `colour ${JSON.stringify(actual)} should be within ${tolerance} of ${JSON.stringify(expected)}`).toBe(
    true,
  );
}
