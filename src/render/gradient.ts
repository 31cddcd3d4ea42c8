// Linear gradients with CSS linear-gradient() semantics: the angle is the direction the gradient
// goes towards (0 = to top, 90 = to right, 180 = to bottom), the gradient line runs through the
// centre and is as long as the box's projection on it (so the corners get the first and last
// colours), stops with offsets 0..1 (an offset smaller than an earlier one is raised to it, as
// in CSS), colours interpolated in premultiplied sRGB (a fade to "transparent" does not go grey).
// Pixels are sampled at their centres. The same template renders many times: results are cached.
import type { LinearGradient } from "../templates/document.js";
import { parseHexColor } from "./raster.js";

export interface GradientRaster {
  /** Raw RGBA, width x height. Shared with the cache: do not modify. */
  data: Buffer;
  /** Every pixel is fully opaque. */
  opaque: boolean;
}

const CACHE_MAX_BYTES = 32 * 1024 * 1024;
const cache = new Map<string, GradientRaster>();
let cacheBytes = 0;

function lookupTable(g: LinearGradient, size: number): Uint8Array {
  const stops: { offset: number; c: [number, number, number, number] }[] = [];
  let last = 0;
  for (const s of g.stops) {
    const { r, g: gr, b, alpha } = parseHexColor(s.color);
    last = Math.max(last, s.offset);
    stops.push({ offset: last, c: [r * alpha, gr * alpha, b * alpha, alpha] }); // premultiplied
  }
  const lut = new Uint8Array(size * 4);
  let k = 0;
  for (let i = 0; i < size; i++) {
    const t = size === 1 ? 0 : i / (size - 1);
    while (k < stops.length - 1 && t > stops[k + 1]!.offset) k++;
    const a = stops[Math.min(k, stops.length - 1)]!;
    const b = stops[Math.min(k + 1, stops.length - 1)]!;
    let c: number[];
    if (t <= stops[0]!.offset) c = stops[0]!.c;
    else if (t >= stops[stops.length - 1]!.offset) c = stops[stops.length - 1]!.c;
    else {
      const span = b.offset - a.offset;
      const f = span <= 0 ? 1 : (t - a.offset) / span;
      c = a.c.map((v, j) => v + (b.c[j]! - v) * f);
    }
    const alpha = c[3]!;
    const o = i * 4;
    if (alpha <= 0) continue; // transparent black
    lut[o] = Math.round(Math.min(255, c[0]! / alpha));
    lut[o + 1] = Math.round(Math.min(255, c[1]! / alpha));
    lut[o + 2] = Math.round(Math.min(255, c[2]! / alpha));
    lut[o + 3] = Math.round(alpha * 255);
  }
  return lut;
}

/** The gradient as raw RGBA pixels of a width x height canvas. */
export function gradientPixels(g: LinearGradient, width: number, height: number): GradientRaster {
  const key = JSON.stringify([g.angle, g.stops, width, height]);
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const rad = (g.angle * Math.PI) / 180;
  let dx = Math.sin(rad);
  let dy = -Math.cos(rad);
  // Snap directions that are axis-aligned up to floating-point noise.
  if (Math.abs(dx) < 1e-12) dx = 0;
  if (Math.abs(dy) < 1e-12) dy = 0;
  const length = Math.abs(width * dx) + Math.abs(height * dy);
  const size = Math.max(2, Math.min(16_384, Math.ceil(length * 2)));
  const lut = lookupTable(g, size);
  const data = Buffer.alloc(width * height * 4);
  const scale = (size - 1) / length;
  // t(x, y) = ((x + 0.5 - w/2) dx + (y + 0.5 - h/2) dy) / length + 0.5, as a LUT index.
  const index = (x: number, y: number) =>
    ((x + 0.5 - width / 2) * dx + (y + 0.5 - height / 2) * dy) * scale + (size - 1) / 2;
  const clampIndex = (v: number) => (v <= 0 ? 0 : v >= size - 1 ? size - 1 : Math.round(v));
  const rowBytes = width * 4;
  if (dx === 0) {
    // Vertical: every row is one colour.
    for (let y = 0; y < height; y++) {
      const o = clampIndex(index(0, y)) * 4;
      data.fill(Buffer.from(lut.subarray(o, o + 4)), y * rowBytes, (y + 1) * rowBytes);
    }
  } else if (dy === 0) {
    // Horizontal: every row is the first one.
    for (let x = 0; x < width; x++) {
      const o = clampIndex(index(x, 0)) * 4;
      data[x * 4] = lut[o]!;
      data[x * 4 + 1] = lut[o + 1]!;
      data[x * 4 + 2] = lut[o + 2]!;
      data[x * 4 + 3] = lut[o + 3]!;
    }
    for (let y = 1; y < height; y++) data.copy(data, y * rowBytes, 0, rowBytes);
  } else {
    const step = dx * scale;
    for (let y = 0; y < height; y++) {
      let v = index(0, y);
      let p = y * rowBytes;
      for (let x = 0; x < width; x++, v += step, p += 4) {
        const o = clampIndex(v) * 4;
        data[p] = lut[o]!;
        data[p + 1] = lut[o + 1]!;
        data[p + 2] = lut[o + 2]!;
        data[p + 3] = lut[o + 3]!;
      }
    }
  }
  const opaque = g.stops.every((s) => parseHexColor(s.color).alpha >= 1);
  const result = { data, opaque };
  if (data.length <= CACHE_MAX_BYTES / 4) {
    cache.set(key, result);
    cacheBytes += data.length;
    for (const [k, v] of cache) {
      if (cacheBytes <= CACHE_MAX_BYTES) break;
      cache.delete(k);
      cacheBytes -= v.data.length;
    }
  }
  return result;
}
