// rect and ellipse layers (and rounded-corner masks), drawn as SVG by librsvg: exact geometry,
// anti-aliased edges, rotation included, and only the part on the canvas is rasterised.
import type { EllipseLayer, RectLayer } from "../templates/document.js";
import {
  fmt,
  intersect,
  parseHexColor,
  rasterizeSvg,
  rotatedBounds,
  solidPixels,
  svgPaint,
  type Overlay,
  type Rect,
  type Rgba,
} from "./raster.js";

function paintAttrs(kind: "fill" | "stroke", c: Rgba | null): string {
  if (!c || c.alpha <= 0) return kind === "fill" ? ` fill="none"` : "";
  return ` ${kind}="${svgPaint(c)}"${c.alpha < 1 ? ` ${kind}-opacity="${fmt(c.alpha)}"` : ""}`;
}

/**
 * SVG elements for a rect/ellipse in `box` (canvas coordinates). The stroke lies inside the box
 * (inset by half its width), so nothing spills out of it.
 */
function shapeElements(
  kind: "rect" | "ellipse",
  box: { left: number; top: number; width: number; height: number },
  fill: Rgba | null,
  stroke: Rgba | null,
  strokeWidth: number,
  radius: number,
): string {
  const sw = stroke ? Math.min(strokeWidth, box.width / 2, box.height / 2) : 0;
  const r = Math.min(radius, box.width / 2, box.height / 2);
  if (stroke && (box.width - sw * 2 <= 0 || box.height - sw * 2 <= 0)) {
    // All stroke: the shape is filled with the stroke colour.
    return kind === "rect"
      ? `<rect x="${fmt(box.left)}" y="${fmt(box.top)}" width="${fmt(box.width)}" height="${fmt(box.height)}" rx="${fmt(r)}"${paintAttrs("fill", stroke)}/>`
      : `<ellipse cx="${fmt(box.left + box.width / 2)}" cy="${fmt(box.top + box.height / 2)}" rx="${fmt(box.width / 2)}" ry="${fmt(box.height / 2)}"${paintAttrs("fill", stroke)}/>`;
  }
  const strokeAttrs = stroke ? `${paintAttrs("stroke", stroke)} stroke-width="${fmt(sw)}"` : "";
  if (kind === "rect") {
    return (
      `<rect x="${fmt(box.left + sw / 2)}" y="${fmt(box.top + sw / 2)}" width="${fmt(box.width - sw)}" height="${fmt(box.height - sw)}" ` +
      `rx="${fmt(Math.max(0, r - sw / 2))}"${paintAttrs("fill", fill)}${strokeAttrs}/>`
    );
  }
  return (
    `<ellipse cx="${fmt(box.left + box.width / 2)}" cy="${fmt(box.top + box.height / 2)}" ` +
    `rx="${fmt(box.width / 2 - sw / 2)}" ry="${fmt(box.height / 2 - sw / 2)}"${paintAttrs("fill", fill)}${strokeAttrs}/>`
  );
}

/** Rasterise SVG content given in canvas coordinates, rotated about the box centre, clipped to the canvas. */
async function drawSvgOnCanvas(
  content: string,
  box: Rect,
  rotation: number,
  opacity: number,
  canvas: Rect,
  timeoutSeconds = 0,
): Promise<Overlay | null> {
  const area = intersect(rotatedBounds(box, rotation), canvas);
  if (!area) return null;
  const cx = box.left + box.width / 2;
  const cy = box.top + box.height / 2;
  const transform = rotation % 360 === 0 ? "" : ` transform="rotate(${fmt(rotation)} ${fmt(cx)} ${fmt(cy)})"`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${area.width}" height="${area.height}" ` +
    `viewBox="${area.left} ${area.top} ${area.width} ${area.height}">` +
    `<g opacity="${fmt(opacity)}"${transform}>${content}</g></svg>`;
  return { ...area, data: await rasterizeSvg(svg, area.width, area.height, timeoutSeconds) };
}

/** `timeoutSeconds`: sharp's timeout for the rasteriser (0: none). */
export async function renderShape(
  layer: RectLayer | EllipseLayer,
  box: Rect,
  canvas: Rect,
  timeoutSeconds = 0,
): Promise<Overlay | null> {
  const fill = parseHexColor(layer.fill);
  const stroke = layer.stroke_color && layer.stroke_width > 0 ? parseHexColor(layer.stroke_color) : null;
  const radius = layer.type === "rect" ? layer.radius : 0;
  const visibleStroke = stroke && stroke.alpha > 0 ? stroke : null;
  if (fill.alpha <= 0 && !visibleStroke) return null;
  if (layer.type === "rect" && !visibleStroke && radius < 0.5 && layer.rotation % 360 === 0) {
    // Plain rectangle: exact colour, no rasteriser needed.
    const visible = intersect(box, canvas);
    return (
      visible && {
        ...visible,
        data: solidPixels(visible.width, visible.height, fill, layer.opacity),
        opaque: fill.alpha * layer.opacity >= 1,
      }
    );
  }
  const content = shapeElements(layer.type, box, fill, visibleStroke, layer.stroke_width, radius);
  return drawSvgOnCanvas(content, box, layer.rotation, layer.opacity, canvas, timeoutSeconds);
}

/** Alpha mask (one byte per pixel) of a rounded rectangle filling a w x h box, for `region` of it. */
export async function roundedMask(
  width: number,
  height: number,
  radius: number,
  region: Rect,
  timeoutSeconds = 0,
): Promise<Uint8Array> {
  const r = Math.min(radius, width / 2, height / 2);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${region.width}" height="${region.height}" ` +
    `viewBox="${region.left} ${region.top} ${region.width} ${region.height}">` +
    `<rect x="0" y="0" width="${width}" height="${height}" rx="${fmt(r)}" fill="#fff"/></svg>`;
  const rgba = await rasterizeSvg(svg, region.width, region.height, timeoutSeconds);
  const mask = new Uint8Array(region.width * region.height);
  for (let i = 0; i < mask.length; i++) mask[i] = rgba[i * 4 + 3]!;
  return mask;
}
