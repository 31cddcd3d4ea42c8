// Pixel plumbing shared by the layer renderers: colours, integer rectangles, layer-local pieces
// and their placement (rotation, opacity, clipping) as canvas overlays.
//
// Conventions: all buffers are raw, non-premultiplied 8-bit RGBA. A Piece is in layer-box
// coordinates (0,0 = the box's top-left corner); an Overlay is in canvas coordinates and lies
// entirely inside the canvas.
import sharp from "sharp";
import { RenderError } from "./errors.js";
import { intersect, isAxisAligned, rotatedCorners, type Rect } from "../templates/layout.js";

export { intersect, neededRegion, rotatedBounds, type Rect } from "../templates/layout.js";

export interface Rgba {
  r: number;
  g: number;
  b: number;
  /** 0..1 */
  alpha: number;
}

const TRANSPARENT: Rgba = { r: 0, g: 0, b: 0, alpha: 0 };

/** "#rgb", "#rgba", "#rrggbb", "#rrggbbaa" or "transparent". */
export function parseHexColor(hex: string): Rgba {
  if (hex === "transparent") return { ...TRANSPARENT };
  let h = hex.startsWith("#") ? hex.slice(1) : hex;
  if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join("");
  if (!/^[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(h)) throw new RenderError("RENDER_FAILED", `invalid colour ${hex}`);
  const n = (i: number) => Number.parseInt(h.slice(i, i + 2), 16);
  return { r: n(0), g: n(2), b: n(4), alpha: h.length === 8 ? n(6) / 255 : 1 };
}

/** Raw RGBA pixels placed at (left, top) on the canvas, fully inside it. */
export interface Overlay extends Rect {
  data: Buffer;
  /** Every pixel is fully opaque (lets compositing copy rows). */
  opaque?: boolean;
}

/** Raw RGBA pixels of a layer, in its box's coordinates (left/top relative to the box). */
export type Piece = Overlay;

export function fmt(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

export function solidPixels(width: number, height: number, color: Rgba, opacity = 1): Buffer {
  const alpha = Math.round(color.alpha * opacity * 255);
  return Buffer.alloc(width * height * 4, Buffer.from([color.r, color.g, color.b, alpha]));
}

/** Multiply the alpha channel by `opacity` in place. */
function applyOpacity(data: Buffer, opacity: number): void {
  if (opacity >= 1) return;
  for (let i = 3; i < data.length; i += 4) data[i] = Math.round(data[i]! * opacity);
}

/** Copy the `area` (canvas coordinates) out of an overlay-like raster placed at (left, top). */
function crop(data: Buffer, left: number, top: number, width: number, area: Rect): Buffer {
  if (area.left === left && area.top === top && area.width === width && area.height * width * 4 === data.length)
    return data;
  const out = Buffer.alloc(area.width * area.height * 4);
  for (let y = 0; y < area.height; y++) {
    const src = ((area.top - top + y) * width + (area.left - left)) * 4;
    data.copy(out, y * area.width * 4, src, src + area.width * 4);
  }
  return out;
}

/**
 * Rotate a piece about its box's centre (clockwise degrees) straight into canvas pixels, clipped
 * to the canvas: every canvas pixel centre is mapped back into the piece and sampled bilinearly
 * (premultiplied, so edges fade to transparent without dark fringes). Exact placement, whatever
 * the sizes' parity, and only pixels on the canvas are computed.
 */
function rotatePiece(piece: Piece, box: Rect, rotation: number, canvas: Rect): Overlay | null {
  const cx = box.left + box.width / 2;
  const cy = box.top + box.height / 2;
  const bounds: Rect = {
    left: box.left + piece.left,
    top: box.top + piece.top,
    width: piece.width,
    height: piece.height,
  };
  // Bounds of the rotated piece: its corners rotated about the box centre.
  const { x0, y0, x1, y1 } = rotatedCorners(bounds, cx, cy, rotation);
  const t = (rotation * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const left = Math.floor(x0);
  const top = Math.floor(y0);
  const area = intersect({ left, top, width: Math.ceil(x1) - left, height: Math.ceil(y1) - top }, canvas);
  if (!area) return null;
  const W = piece.width;
  const H = piece.height;
  const src = piece.data;
  const out = Buffer.alloc(area.width * area.height * 4);
  // Sample position (in piece pixel indices) of canvas point (X, Y):
  //   u = ((X - cx) cos + (Y - cy) sin) + box.width/2 - piece.left - 0.5, likewise v with -sin, cos.
  const u0 = box.width / 2 - piece.left - 0.5;
  const v0 = box.height / 2 - piece.top - 0.5;
  const stride = W * 4;
  for (let oy = 0; oy < area.height; oy++) {
    const Y = area.top + oy + 0.5 - cy;
    const X0 = area.left + 0.5 - cx;
    let u = X0 * cos + Y * sin + u0;
    let v = -X0 * sin + Y * cos + v0;
    let d = oy * area.width * 4;
    for (let ox = 0; ox < area.width; ox++, u += cos, v -= sin, d += 4) {
      if (u <= -1 || v <= -1 || u >= W || v >= H) continue;
      const xi = Math.floor(u);
      const yi = Math.floor(v);
      const fx = u - xi;
      const fy = v - yi;
      // Weights of the four neighbours times their alpha (0 for those outside the piece).
      const inX0 = xi >= 0;
      const inX1 = xi + 1 < W;
      const inY0 = yi >= 0;
      const inY1 = yi + 1 < H;
      const i00 = yi * stride + xi * 4;
      const a00 = inX0 && inY0 ? src[i00 + 3]! * (1 - fx) * (1 - fy) : 0;
      const a10 = inX1 && inY0 ? src[i00 + 7]! * fx * (1 - fy) : 0;
      const a01 = inX0 && inY1 ? src[i00 + stride + 3]! * (1 - fx) * fy : 0;
      const a11 = inX1 && inY1 ? src[i00 + stride + 7]! * fx * fy : 0;
      const a = a00 + a10 + a01 + a11;
      if (a <= 0.5) continue;
      const i10 = i00 + 4;
      const i01 = i00 + stride;
      const i11 = i01 + 4;
      // Premultiplied average, unpremultiplied again (the a.. terms already carry alpha).
      out[d] =
        (((a00 > 0 ? src[i00]! * a00 : 0) +
          (a10 > 0 ? src[i10]! * a10 : 0) +
          (a01 > 0 ? src[i01]! * a01 : 0) +
          (a11 > 0 ? src[i11]! * a11 : 0)) /
          a +
          0.5) |
        0;
      out[d + 1] =
        (((a00 > 0 ? src[i00 + 1]! * a00 : 0) +
          (a10 > 0 ? src[i10 + 1]! * a10 : 0) +
          (a01 > 0 ? src[i01 + 1]! * a01 : 0) +
          (a11 > 0 ? src[i11 + 1]! * a11 : 0)) /
          a +
          0.5) |
        0;
      out[d + 2] =
        (((a00 > 0 ? src[i00 + 2]! * a00 : 0) +
          (a10 > 0 ? src[i10 + 2]! * a10 : 0) +
          (a01 > 0 ? src[i01 + 2]! * a01 : 0) +
          (a11 > 0 ? src[i11 + 2]! * a11 : 0)) /
          a +
          0.5) |
        0;
      out[d + 3] = (a + 0.5) | 0;
    }
  }
  return { ...area, data: out };
}

/**
 * Put a layer's piece on the canvas: rotate it about the box centre (clockwise degrees), apply
 * the layer opacity and clip it to the canvas. `piece.data` is never modified (it may be cached).
 */
export function placePiece(piece: Piece, box: Rect, rotation: number, opacity: number, canvas: Rect): Overlay | null {
  if (!isAxisAligned(rotation)) {
    const rotated = rotatePiece(piece, box, rotation, canvas);
    if (rotated) applyOpacity(rotated.data, opacity);
    return rotated;
  }
  const left = box.left + piece.left;
  const top = box.top + piece.top;
  const area = intersect({ left, top, width: piece.width, height: piece.height }, canvas);
  if (!area) return null;
  let clipped = crop(piece.data, left, top, piece.width, area);
  if (opacity < 1) {
    if (clipped === piece.data) clipped = Buffer.from(clipped);
    applyOpacity(clipped, opacity);
  }
  return { ...area, data: clipped, opaque: piece.opaque === true && opacity >= 1 };
}

/**
 * Rasterise an SVG document (one the renderer wrote: shapes, masks) to raw RGBA of exactly
 * width x height. `timeoutSeconds` (0: none) is sharp's timeout for the pipeline.
 */
export async function rasterizeSvg(svg: string, width: number, height: number, timeoutSeconds = 0): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(svg), { density: 72, limitInputPixels: false })
    .timeout({ seconds: timeoutSeconds })
    .ensureAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 4) {
    throw new Error(`unexpected SVG raster ${info.width}x${info.height}x${info.channels}, wanted ${width}x${height}`);
  }
  return data;
}

export const svgPaint = (c: Rgba) => `rgb(${c.r},${c.g},${c.b})`;

/**
 * Composite `o` over `canvas` (raw RGBA, canvasWidth wide) in place, "source over" on
 * non-premultiplied pixels. Fully opaque overlay rows are copied; transparent pixels skipped.
 */
export function blendOver(canvas: Buffer, canvasWidth: number, o: Overlay, canvasOpaque: boolean): void {
  const src = o.data;
  const rowBytes = o.width * 4;
  for (let y = 0; y < o.height; y++) {
    const s0 = y * rowBytes;
    const d0 = ((o.top + y) * canvasWidth + o.left) * 4;
    if (o.opaque) {
      src.copy(canvas, d0, s0, s0 + rowBytes);
      continue;
    }
    for (let s = s0, d = d0, end = s0 + rowBytes; s < end; s += 4, d += 4) {
      const a = src[s + 3]!;
      if (a === 0) continue;
      if (a === 255) {
        canvas[d] = src[s]!;
        canvas[d + 1] = src[s + 1]!;
        canvas[d + 2] = src[s + 2]!;
        canvas[d + 3] = 255;
        continue;
      }
      const k = a / 255;
      const da = canvas[d + 3]!;
      if (canvasOpaque || da === 255) {
        canvas[d] = (canvas[d]! + (src[s]! - canvas[d]!) * k + 0.5) | 0;
        canvas[d + 1] = (canvas[d + 1]! + (src[s + 1]! - canvas[d + 1]!) * k + 0.5) | 0;
        canvas[d + 2] = (canvas[d + 2]! + (src[s + 2]! - canvas[d + 2]!) * k + 0.5) | 0;
        continue;
      }
      const dk = (da / 255) * (1 - k);
      const oa = k + dk;
      canvas[d] = ((src[s]! * k + canvas[d]! * dk) / oa + 0.5) | 0;
      canvas[d + 1] = ((src[s + 1]! * k + canvas[d + 1]! * dk) / oa + 0.5) | 0;
      canvas[d + 2] = ((src[s + 2]! * k + canvas[d + 2]! * dk) / oa + 0.5) | 0;
      canvas[d + 3] = (oa * 255 + 0.5) | 0;
    }
  }
}

/** True when every pixel of a raw RGBA buffer is fully opaque. */
export function isOpaque(data: Buffer): boolean {
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return false;
  return true;
}
