// Text layout without Pango: line breaking, auto-fit and ellipsis, measured with fontkit.
//
// Pango (through libvips) only draws; it returns a bitmap, not where it broke lines. To honour
// max_lines with an ellipsis, truncate exactly at the last line that fits, and search a font size
// quickly, the renderer breaks lines itself and hands Pango explicit lines (no wrapping).
// Widths follow what Pango does with the same font: glyph advances (kerning included) rounded to
// whole pixels one by one (Pango rounds glyph positions), letter spacing between glyphs but not
// after the last one of a line, no optional ligatures when letters are spaced. What is left
// (shaping differences, fallback fonts for missing glyphs) is caught after drawing: text.ts checks
// the ink against the box and lays out again narrower if needed.
import type * as fontkit from "fontkit";

export interface TextMetricsSource {
  font: fontkit.Font;
  /** Identifies the font for the measurement cache (e.g. its file). */
  key: string;
}

/** Glyph advances of a string shaped alone, in font units. */
interface Shaped {
  advances: Float64Array;
}

const SHAPE_CACHE_MAX = 20_000;
const shapeCache = new Map<string, Shaped>();

function shape(src: TextMetricsSource, text: string, spaced: boolean): Shaped {
  const key = `${src.key}\0${spaced ? 1 : 0}\0${text}`;
  const hit = shapeCache.get(key);
  if (hit) return hit;
  const features = spaced ? { liga: false, clig: false, dlig: false, calt: false } : undefined;
  const run = src.font.layout(text, features);
  const advances = new Float64Array(run.positions.length);
  const em = src.font.unitsPerEm;
  run.positions.forEach((p, i) => {
    const glyph = run.glyphs[i];
    // A glyph the font lacks is drawn by Pango with some fallback font: guess its width.
    if (glyph && glyph.id === 0 && text.length > 0) {
      const cp = glyph.codePoints[0] ?? 0;
      advances[i] = (cp >= 0x2e80 ? 1 : 0.6) * em;
    } else advances[i] = p.xAdvance;
  });
  const shaped = { advances };
  if (shapeCache.size >= SHAPE_CACHE_MAX) shapeCache.delete(shapeCache.keys().next().value!);
  shapeCache.set(key, shaped);
  return shaped;
}

const graphemeSegmenter = new Intl.Segmenter("en", { granularity: "grapheme" });
const graphemes = (s: string) => Array.from(graphemeSegmenter.segment(s), (g) => g.segment);

export interface LayoutInput {
  /** Text after transforms; "\n" separates paragraphs, no other control characters. */
  text: string;
  /** Wrap width, px. */
  maxWidth: number;
  /** Box height, px. */
  maxHeight: number;
  /** Largest (or only) size, px. */
  fontSize: number;
  /** Smallest size auto-fit may use, px. */
  minFontSize: number;
  autoFit: boolean;
  /** Multiple of the font size. */
  lineHeight: number;
  /** Pixels between letters. */
  letterSpacing: number;
  maxLines?: number;
}

export interface TextLayout {
  fontSize: number;
  /** Line pitch, px. */
  lineHeightPx: number;
  lines: string[];
  /** Lines were dropped (and the last kept one ends with an ellipsis). */
  truncated: boolean;
}

class Measurer {
  private readonly spaced: boolean;
  private readonly scale: number;
  constructor(
    private readonly src: TextMetricsSource,
    readonly size: number,
    private readonly letterSpacing: number,
  ) {
    this.spaced = letterSpacing !== 0;
    this.scale = size / src.font.unitsPerEm;
  }

  /** Width of `text` plus letter spacing after each glyph (the caller removes the last one). */
  width(text: string): number {
    if (text.length === 0) return 0;
    const { advances } = shape(this.src, text, this.spaced);
    let w = 0;
    for (const a of advances) w += Math.round(a * this.scale);
    return w + this.letterSpacing * advances.length;
  }
}

interface Broken {
  lines: string[];
  /** A word had to be split between characters. */
  forced: boolean;
}

const TOKEN = / +|[^ ]+/g;

function breakLines(
  paragraphs: readonly string[],
  m: Measurer,
  maxWidth: number,
  ls: number,
  stopAfter: number,
): Broken {
  const lines: string[] = [];
  let forced = false;
  const fits = (w: number) => w - ls <= maxWidth + 0.01;
  for (const para of paragraphs) {
    let line = "";
    let lineW = 0;
    let pending = ""; // spaces waiting for the next word
    let pendingW = 0;
    let wrapped = false;
    const tokens = para.match(TOKEN) ?? [];
    for (const token of tokens) {
      if (token[0] === " ") {
        if (line === "" && wrapped) continue; // no leading spaces on a wrapped line
        pending += token;
        pendingW += m.width(token);
        continue;
      }
      const w = m.width(token);
      if (line !== "" && !fits(lineW + pendingW + w)) {
        lines.push(line);
        if (lines.length >= stopAfter) return { lines, forced };
        line = "";
        lineW = 0;
        pending = "";
        pendingW = 0;
        wrapped = true;
      }
      if (line === "" && !fits(pendingW + w)) {
        pending = ""; // indentation that does not fit is dropped
        pendingW = 0;
      }
      if (line === "" && !fits(w)) {
        // A word wider than the line: break it between characters.
        forced = true;
        let chunk = "";
        let chunkW = 0;
        for (const g of graphemes(token)) {
          const gw = m.width(g);
          if (chunk !== "" && !fits(chunkW + gw)) {
            lines.push(chunk);
            if (lines.length >= stopAfter) return { lines, forced };
            chunk = "";
            chunkW = 0;
            wrapped = true;
          }
          chunk += g;
          chunkW += gw;
        }
        line = chunk;
        lineW = chunkW;
        continue;
      }
      line += pending + token;
      lineW += pendingW + w;
      pending = "";
      pendingW = 0;
    }
    lines.push(line);
    if (lines.length >= stopAfter) return { lines, forced };
  }
  return { lines, forced };
}

const ELLIPSIS = "\u2026";

/** `line` shortened (by whole characters) so that it plus an ellipsis fits `maxWidth`. */
function withEllipsis(line: string, m: Measurer, maxWidth: number, ls: number, ellipsis: string): string {
  const ew = m.width(ellipsis);
  const parts = graphemes(line.trimEnd());
  const widths = parts.map((g) => m.width(g));
  let total = widths.reduce((a, b) => a + b, 0);
  while (parts.length > 0 && total + ew - ls > maxWidth + 0.01) {
    total -= widths.pop()!;
    parts.pop();
  }
  // No dangling space or separator before the ellipsis ("layer,…" reads as "layer…").
  return parts.join("").replace(/[\s,;:\-\u2013\u2014]+$/u, "") + ellipsis;
}

/** Lay text out in a box: choose the size (auto-fit), break lines, truncate with an ellipsis. */
export function layoutText(src: TextMetricsSource, input: LayoutInput): TextLayout {
  const paragraphs = input.text.split("\n");
  const ls = input.letterSpacing;
  const maxWidth = Math.max(1, input.maxWidth);
  const linePitch = (size: number) => Math.max(1, size * input.lineHeight);
  const capacity = (size: number) => Math.floor((input.maxHeight + 0.01) / linePitch(size));
  const limitFor = (size: number) => Math.min(input.maxLines ?? Infinity, capacity(size));

  const attempt = (size: number) => {
    const limit = limitFor(size);
    const broken = breakLines(paragraphs, new Measurer(src, size, ls), maxWidth, ls, Math.max(1, limit) + 1);
    return { ok: limit >= 1 && broken.lines.length <= limit, forced: broken.forced };
  };

  let size = input.fontSize;
  const min = Math.min(input.minFontSize, input.fontSize);
  if (input.autoFit && min < size) {
    // Prefer a size at which no word is split; settle for one that fits at all.
    const strict = (s: number) => {
      const r = attempt(s);
      return r.ok && !r.forced;
    };
    const loose = (s: number) => attempt(s).ok;
    const search = (fits: (s: number) => boolean): number | undefined => {
      if (fits(size)) return size;
      if (!fits(min)) return undefined;
      let lo = min;
      let hi = size;
      while (hi - lo > 0.5) {
        const mid = (lo + hi) / 2;
        if (fits(mid)) lo = mid;
        else hi = mid;
      }
      return Math.floor(lo * 100) / 100;
    };
    size = search(strict) ?? search(loose) ?? min;
  }

  const m = new Measurer(src, size, ls);
  const keep = Math.max(1, limitFor(size));
  const { lines } = breakLines(paragraphs, m, maxWidth, ls, keep + 1);
  const truncated = lines.length > keep;
  if (truncated) {
    lines.length = keep;
    const ellipsis = src.font.hasGlyphForCodePoint(0x2026) ? ELLIPSIS : "...";
    lines[keep - 1] = withEllipsis(lines[keep - 1]!, m, maxWidth, ls, ellipsis);
  }
  return { fontSize: size, lineHeightPx: linePitch(size), lines: lines.map((l) => l.trimEnd()), truncated };
}
