// Text layers: layout (text-layout.ts) decides the size and the lines; Pango, through libvips,
// draws them; the result is placed exactly in the box and clipped to it.
//
// sharp's text input (libvips -> Pango) crops its output to the *ink* extents, so where the
// glyphs sit relative to the layout is not reported. To place text exactly (a baseline that does
// not depend on the glyphs, correct alignment), the markup starts with an invisible sentinel line:
// an "I" with fgalpha=1 (its ink counts for the crop but paints next to nothing) and an underline
// (which spans exactly the run's logical width, so the crop contains it), on a pure green
// background that Pango paints over the sentinel line's logical box. In the output, the last
// green row is the top of the first text line, and the green columns give the sentinel line's
// logical extent, from which the layout's x origin follows (Pango aligns every line, sentinel
// included, within the widest line: left edges, centres or right edges coincide).
// The text itself is painted pure red: glyph coverage is red x alpha (premultiplied red),
// whatever was painted beneath it; the layer colour is applied afterwards.
import sharp from "sharp";
import type { TextLayer } from "../templates/document.js";
import { RenderError } from "./errors.js";
import {
  FontLoadError,
  loadFontFace,
  pangoFontDescription,
  selectFontFace,
  type FontFaceFile,
  type LoadedFontFace,
  type UploadedFontFace,
} from "./fonts.js";
import { intersect, parseHexColor, type Piece, type Rect } from "./raster.js";
import { layoutText, type TextLayout } from "./text-layout.js";

const SENTINEL = '<span fgalpha="1" underline="single" background="#00ff00">I</span>';
/** Budget for one text layer's Pango raster. */
const MAX_TEXT_RASTER_PIXELS = 40_000_000;
/** Glyph coverage (0..255) from which clipped ink counts as an overflow worth a narrower layout. */
const OVERFLOW_COVERAGE = 64;

const MARKUP_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Make arbitrary user text safe as Pango markup content: escape markup, drop what XML forbids. */
function escapePangoMarkup(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(CONTROL_CHARS, "")
    .replace(LONE_SURROGATE, "\uFFFD")
    .replace(/[&<>"']/g, (c) => MARKUP_ESCAPES[c]!);
}

/** The text as it will be laid out: newlines normalised, tabs as spaces, control characters dropped, transformed. */
function prepareText(layer: Pick<TextLayer, "text" | "text_transform">): string {
  const text = layer.text
    .replace(/\r\n?/g, "\n")
    .replace(/\t/g, " ")
    .replace(CONTROL_CHARS, "")
    .replace(LONE_SURROGATE, "\uFFFD");
  if (layer.text_transform === "uppercase") return text.toUpperCase();
  if (layer.text_transform === "lowercase") return text.toLowerCase();
  return text;
}

interface PangoRaster {
  data: Buffer;
  width: number;
  height: number;
}

async function pangoRender(
  markup: string,
  font: string,
  fontfile: string,
  align: TextLayer["align"],
  timeoutSeconds: number,
): Promise<PangoRaster> {
  const { data, info } = await sharp({
    text: { text: markup, font, fontfile, align: align === "center" ? "centre" : align, rgba: true, dpi: 72 },
  })
    .timeout({ seconds: timeoutSeconds })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`unexpected text raster with ${info.channels} channels`);
  return { data, width: info.width, height: info.height };
}

/** Where the raster goes in box coordinates: box = raster + (dx, dy). */
interface Placement {
  dx: number;
  dy: number;
}

function locate(raster: PangoRaster, layer: TextLayer, box: Rect, firstLineTop: number): Placement {
  const { data: px, width: W, height: H } = raster;
  // "inside the sentinel background": green (premultiplied) at least half on.
  const greenAt = (x: number, y: number) => {
    const i = (y * W + x) * 4;
    return px[i + 1]! * px[i + 3]! >= 128 * 255;
  };
  const rowHasGreen = (y: number) => {
    for (let x = 0; x < W; x++) if (greenAt(x, y)) return true;
    return false;
  };
  let first = -1;
  for (let y = 0; y < H && first < 0; y++) if (rowHasGreen(y)) first = y;
  let textTop = first;
  while (textTop >= 0 && textTop < H && rowHasGreen(textTop)) textTop++;
  let originX: number;
  if (first >= 0) {
    let gx0 = W;
    let gx1 = -1;
    for (let y = first; y < textTop; y++) {
      for (let x = 0; x < W; x++) {
        if (greenAt(x, y)) {
          if (x < gx0) gx0 = x;
          if (x > gx1) gx1 = x;
        }
      }
    }
    originX =
      layer.align === "left"
        ? gx0
        : layer.align === "right"
          ? gx1 + 1 - box.width
          : (gx0 + gx1 + 1) / 2 - box.width / 2;
  } else {
    // Tiny sizes (a few pixels) blur the sentinel away; the raster is then placed as the block,
    // which is off by at most a couple of pixels at such sizes.
    textTop = 0;
    originX = layer.align === "left" ? 0 : layer.align === "right" ? W - box.width : W / 2 - box.width / 2;
  }
  return { dx: Math.round(-originX), dy: Math.round(firstLineTop - textTop) };
}

/** Columns [minX, maxX] (raster) with clearly visible glyph ink, or null. */
function inkColumns(raster: PangoRaster, threshold: number): [number, number] | null {
  const { data, width: W, height: H } = raster;
  const limit = threshold * 255;
  let minX = W;
  let maxX = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W * 4;
    for (let x = 0; x < minX; x++) {
      const i = row + x * 4;
      if (data[i]! * data[i + 3]! >= limit) {
        minX = x;
        break;
      }
    }
    for (let x = W - 1; x > maxX; x--) {
      const i = row + x * 4;
      if (data[i]! * data[i + 3]! >= limit) {
        maxX = x;
        break;
      }
    }
  }
  return maxX >= minX ? [minX, maxX] : null;
}

function fontError(layer: TextLayer, err: unknown): RenderError {
  if (err instanceof FontLoadError) {
    return new RenderError("RENDER_FAILED", `text layer "${layer.name}": ${err.message}`, {
      cause: err,
      retryable: err.retryable,
    });
  }
  return new RenderError(
    "RENDER_FAILED",
    `text layer "${layer.name}": font could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
      retryable: true,
    },
  );
}

function selectFace(layer: TextLayer, fonts: readonly UploadedFontFace[]): FontFaceFile {
  const face = selectFontFace(layer.font_family, layer.font_weight, layer.font_style, fonts);
  if (!face) {
    throw new RenderError(
      "RENDER_FAILED",
      `text layer "${layer.name}": font family "${layer.font_family}" is not available`,
    );
  }
  return face;
}

/** Resolve and load the face a text layer asks for; RenderError when the family is unknown. */
async function faceForLayer(layer: TextLayer, fonts: readonly UploadedFontFace[]): Promise<LoadedFontFace> {
  const face = selectFace(layer, fonts);
  try {
    return await loadFontFace(face);
  } catch (err) {
    throw fontError(layer, err);
  }
}

/** Lay out a text layer in a box of the given size (exported for tests and tools). */
export async function layoutTextLayer(
  layer: TextLayer,
  width: number,
  height: number,
  fonts: readonly UploadedFontFace[] = [],
): Promise<TextLayout> {
  const face = await faceForLayer(layer, fonts);
  return layoutText({ font: face.font, key: face.renderFile }, textInput(layer, prepareText(layer), width, height));
}

function textInput(layer: TextLayer, text: string, maxWidth: number, maxHeight: number) {
  return {
    text,
    maxWidth,
    maxHeight,
    fontSize: layer.font_size,
    minFontSize: layer.min_font_size,
    autoFit: layer.auto_fit,
    lineHeight: layer.line_height,
    letterSpacing: layer.letter_spacing,
    maxLines: layer.max_lines,
  };
}

/**
 * Draw a text layer into its box (`box` gives the size), for `region` (box coordinates) of it:
 * background_color fills the box; text never leaves it. `timeoutSeconds` (0: none) gives sharp's
 * timeout for each Pango raster.
 */
export async function renderTextPiece(
  layer: TextLayer,
  box: Rect,
  region: Rect,
  fonts: readonly UploadedFontFace[],
  timeoutSeconds: () => number = () => 0,
): Promise<Piece | null> {
  const color = parseHexColor(layer.color);
  const background = layer.background_color ? parseHexColor(layer.background_color) : null;
  const hasBackground = background !== null && background.alpha > 0;
  selectFace(layer, fonts); // an unknown family is an error even when there is nothing to draw
  const text = prepareText(layer);
  const hasText = color.alpha > 0 && text.trim().length > 0;
  if (!hasText && !hasBackground) return null;

  let raster: PangoRaster | null = null;
  let placement: Placement = { dx: 0, dy: 0 };
  if (hasText) {
    const face = await faceForLayer(layer, fonts);
    let maxWidth = box.width;
    for (let attempt = 0; ; attempt++) {
      raster = null;
      const layout = layoutText(
        { font: face.font, key: face.renderFile },
        textInput(layer, text, maxWidth, box.height),
      );
      const lh = layout.lineHeightPx;
      const blockHeight = layout.lines.length * lh;
      const blockTop =
        layer.vertical_align === "top"
          ? 0
          : layer.vertical_align === "bottom"
            ? box.height - blockHeight
            : (box.height - blockHeight) / 2;
      // Only the lines that can show in the region are drawn (a line's ink may reach past its box).
      const first = Math.max(0, Math.floor((region.top - blockTop) / lh) - 1);
      const last = Math.min(layout.lines.length, Math.ceil((region.top + region.height - blockTop) / lh) + 1);
      const lines = layout.lines.slice(first, last);
      if (lines.every((l) => l.trim() === "")) break;
      // Lines are at most the box wide (one glyph wider than the box is the exception).
      if (Math.max(box.width, layout.fontSize * 3) * (lines.length + 2) * lh > MAX_TEXT_RASTER_PIXELS) {
        throw new RenderError("RENDER_FAILED", `text layer "${layer.name}": the text is too large to draw`);
      }
      const ls = Math.round(layer.letter_spacing * 1024); // Pango units: 1/1024 pt, and 1 pt = 1 px at 72 dpi
      const body = lines.map(escapePangoMarkup).join("\n");
      const markup =
        `<span line_height="${Math.max(1024, Math.round(lh * 1024))}">${SENTINEL}\n` +
        `<span foreground="#ff0000"${ls !== 0 ? ` letter_spacing="${ls}"` : ""}>${body}</span></span>`;
      try {
        raster = await pangoRender(
          markup,
          pangoFontDescription(face, layout.fontSize),
          face.renderFile,
          layer.align,
          timeoutSeconds(),
        );
      } catch (err) {
        throw new RenderError(
          "RENDER_FAILED",
          `text layer "${layer.name}": ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
            retryable: true,
          },
        );
      }
      placement = locate(raster, layer, box, blockTop + first * lh);
      // Our measurements and Pango's shaping can differ by a few pixels (or a fallback font drew
      // missing glyphs): if visible ink would be cut at the side the text grows towards, lay out
      // again, narrower by that much.
      const ink = attempt < 2 ? inkColumns(raster, OVERFLOW_COVERAGE) : null;
      if (!ink) break;
      const overLeft = Math.max(0, -(ink[0] + placement.dx));
      const overRight = Math.max(0, ink[1] + placement.dx + 1 - box.width);
      const excess =
        layer.align === "left" ? overRight : layer.align === "right" ? overLeft : 2 * Math.max(overLeft, overRight);
      if (excess <= 0 || maxWidth - excess - 1 < layout.fontSize) break;
      maxWidth -= excess + 1;
    }
  }

  // Compose: background, then the text colour with the glyph coverage as alpha, clipped to the box (region).
  let area: Rect | null = region;
  if (!hasBackground) {
    area = raster
      ? intersect(region, { left: placement.dx, top: placement.dy, width: raster.width, height: raster.height })
      : null;
    if (!area) return null;
  }
  const out = Buffer.alloc(area.width * area.height * 4);
  if (hasBackground)
    out.fill(Buffer.from([background.r, background.g, background.b, Math.round(background.alpha * 255)]));
  if (raster) {
    const ta = color.alpha;
    const span = intersect(area, { left: placement.dx, top: placement.dy, width: raster.width, height: raster.height });
    if (span) {
      const px = raster.data;
      for (let y = span.top; y < span.top + span.height; y++) {
        const src = ((y - placement.dy) * raster.width + (span.left - placement.dx)) * 4;
        const dst = ((y - area.top) * area.width + (span.left - area.left)) * 4;
        for (let x = 0; x < span.width; x++) {
          const s = src + x * 4;
          const cov = px[s]! * px[s + 3]!; // premultiplied red, 0..65025
          if (cov === 0) continue;
          const a = (cov / 65025) * ta; // text alpha at this pixel
          const d = dst + x * 4;
          if (!hasBackground) {
            out[d] = color.r;
            out[d + 1] = color.g;
            out[d + 2] = color.b;
            out[d + 3] = Math.round(a * 255);
            continue;
          }
          const ba = out[d + 3]! / 255;
          const oa = a + ba * (1 - a);
          if (oa <= 0) continue;
          out[d] = Math.round((color.r * a + out[d]! * ba * (1 - a)) / oa);
          out[d + 1] = Math.round((color.g * a + out[d + 1]! * ba * (1 - a)) / oa);
          out[d + 2] = Math.round((color.b * a + out[d + 2]! * ba * (1 - a)) / oa);
          out[d + 3] = Math.round(oa * 255);
        }
      }
    }
  }
  return { ...area, data: out };
}
