// Where a template's layers land on the canvas, in whole pixels, as the renderer draws them: pure
// geometry (no pixels, no sharp), so that what a render is charged for and what the renderer
// draws follow one rule (src/billing/prices.ts counts the background removals a render will run
// with drawnImageLayers, the renderer downloads the images it lists).
import type { ImageLayer, Layer, TemplateDocument } from "./document.js";

/** An integer rectangle. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function intersect(a: Rect, b: Rect): Rect | null {
  const left = Math.max(a.left, b.left);
  const top = Math.max(a.top, b.top);
  const right = Math.min(a.left + a.width, b.left + b.width);
  const bottom = Math.min(a.top + a.height, b.top + b.height);
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : null;
}

export function isAxisAligned(rotation: number): boolean {
  return rotation % 360 === 0;
}

/** Clockwise rotation of (x, y) (y pointing down) by `deg` degrees. */
function rotate(x: number, y: number, deg: number): [number, number] {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [x * c - y * s, x * s + y * c];
}

/** Bounds of the four corners of `rect` rotated by `deg` (clockwise) about (cx, cy). */
export function rotatedCorners(
  rect: Rect,
  cx: number,
  cy: number,
  deg: number,
): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [px, py] of [
    [rect.left, rect.top],
    [rect.left + rect.width, rect.top],
    [rect.left + rect.width, rect.top + rect.height],
    [rect.left, rect.top + rect.height],
  ] as const) {
    const [x, y] = rotate(px - cx, py - cy, deg);
    x0 = Math.min(x0, cx + x);
    x1 = Math.max(x1, cx + x);
    y0 = Math.min(y0, cy + y);
    y1 = Math.max(y1, cy + y);
  }
  return { x0, y0, x1, y1 };
}

/** Canvas-space bounding box (integer, unclipped) of `box` rotated about its centre. */
export function rotatedBounds(box: Rect, rotation: number): Rect {
  if (isAxisAligned(rotation)) return box;
  const { x0, y0, x1, y1 } = rotatedCorners(box, box.left + box.width / 2, box.top + box.height / 2, rotation);
  const left = Math.floor(x0 - 0.01);
  const top = Math.floor(y0 - 0.01);
  return { left, top, width: Math.ceil(x1 + 0.01) - left, height: Math.ceil(y1 + 0.01) - top };
}

/**
 * The part of the box (box coordinates) that can show on the canvas once rotated: a layer far
 * bigger than the canvas is only rasterised where it matters. Null when nothing shows.
 */
export function neededRegion(box: Rect, rotation: number, canvas: Rect): Rect | null {
  const full: Rect = { left: 0, top: 0, width: box.width, height: box.height };
  if (isAxisAligned(rotation)) {
    const visible = intersect(box, canvas);
    return (
      visible && {
        left: visible.left - box.left,
        top: visible.top - box.top,
        width: visible.width,
        height: visible.height,
      }
    );
  }
  if (!intersect(rotatedBounds(box, rotation), canvas)) return null;
  // Canvas corners mapped back into the (unrotated) box, plus a pixel for interpolation.
  const back = rotatedCorners(canvas, box.left + box.width / 2, box.top + box.height / 2, -rotation);
  const [x0, x1, y0, y1] = [back.x0 - box.left, back.x1 - box.left, back.y0 - box.top, back.y1 - box.top];
  const left = Math.floor(x0) - 2;
  const top = Math.floor(y0) - 2;
  return intersect(full, { left, top, width: Math.ceil(x1) + 2 - left, height: Math.ceil(y1) + 2 - top });
}

/** The layer's box on the canvas, in whole pixels (as it is drawn). */
export function layerBox(layer: Layer): Rect {
  const left = Math.round(layer.x);
  const top = Math.round(layer.y);
  return {
    left,
    top,
    width: Math.round(layer.x + layer.width) - left,
    height: Math.round(layer.y + layer.height) - top,
  };
}

/** Every length of the document multiplied by `s`. */
export function scaleDocument(doc: TemplateDocument, s: number): TemplateDocument {
  if (s === 1) return doc;
  const layers = doc.layers.map((layer): Layer => {
    const base = { ...layer, x: layer.x * s, y: layer.y * s, width: layer.width * s, height: layer.height * s };
    switch (base.type) {
      case "text":
        return {
          ...base,
          font_size: base.font_size * s,
          min_font_size: base.min_font_size * s,
          letter_spacing: base.letter_spacing * s,
        };
      case "image":
        return { ...base, radius: base.radius * s };
      case "rect":
        return { ...base, radius: base.radius * s, stroke_width: base.stroke_width * s };
      case "ellipse":
        return { ...base, stroke_width: base.stroke_width * s };
    }
  });
  return {
    ...doc,
    width: Math.max(1, Math.round(doc.width * s)),
    height: Math.max(1, Math.round(doc.height * s)),
    layers,
  };
}

/** The part of the canvas the layer covers once rotated; null when it is not drawn at all. */
export function visibleArea(layer: Layer, canvas: Rect): Rect | null {
  if (layer.hidden || layer.opacity === 0) return null;
  const box = layerBox(layer);
  return box.width > 0 && box.height > 0 ? intersect(rotatedBounds(box, layer.rotation), canvas) : null;
}

/**
 * Whether the renderer draws this image layer's picture on `canvas`: it has one, it is not
 * hidden or fully transparent, and some of its (rotated, rounded) box is on the canvas.
 */
export function drawsImage(layer: Layer, canvas: Rect): layer is ImageLayer & { image_url: string } {
  if (layer.type !== "image" || layer.image_url === undefined || !visibleArea(layer, canvas)) return false;
  return neededRegion(layerBox(layer), layer.rotation, canvas) !== null;
}

/**
 * The distinct image URLs whose background a render of `doc` at `scale` removes: those of the
 * image layers it draws with remove_background. One URL drawn twice is removed once (the engine
 * caches it by content), so it is one removal.
 */
export function backgroundRemovalSources(doc: TemplateDocument, scale = 1): string[] {
  const scaled = scaleDocument(doc, scale);
  const canvas: Rect = { left: 0, top: 0, width: scaled.width, height: scaled.height };
  const urls = new Set<string>();
  for (const layer of scaled.layers)
    if (drawsImage(layer, canvas) && layer.remove_background) urls.add(layer.image_url);
  return [...urls];
}
