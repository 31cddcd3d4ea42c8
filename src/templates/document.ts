// The template document: what a designer saves and what the renderer draws.
// Field names are snake_case like the rest of the REST contract. Validation lives here so the
// REST layer, GraphQL and the worker all agree on what a valid template is. Whether a font
// family exists depends on the organisation (uploaded fonts), so that check is in
// src/templates/service.ts, not here.
import { z } from "zod";

/** Hex colour (#rgb, #rgba, #rrggbb, #rrggbbaa) or "transparent". */
export const Color = z
  .string()
  .regex(
    /^(?:#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|transparent)$/,
    'must be a hex colour such as #1e293b or #1e293bcc, or "transparent"',
  );

const MAX_CANVAS = 5000;
/** Largest output in pixels: canvas width x height x scale². */
export const MAX_OUTPUT_PIXELS = 40_000_000;
/**
 * Pixel work of the layers: the sum, over every layer (hidden ones included: a modification may
 * show them), of the canvas area the layer's box can cover (rotated, clipped to the canvas), times
 * scale². Each such pixel is rasterised and blended once, so this bounds a render's CPU time
 * (memory does not grow with it: layers are composited one after another). 400 megapixels is 16
 * full 5000x5000 canvases, or all 200 layers covering a 1200x630 card at scale 2.
 */
export const MAX_LAYER_PIXELS = 400_000_000;
const Coordinate = z
  .number()
  .finite()
  .min(-MAX_CANVAS)
  .max(MAX_CANVAS * 2);
const Size = z
  .number()
  .finite()
  .positive()
  .max(MAX_CANVAS * 2);
const Unit = z.number().min(0).max(1);
export const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(4096);

export const GradientStop = z.object({ color: Color, offset: Unit });
/** A linear gradient; angle in degrees like CSS (0 = bottom to top, 90 = left to right). */
export const LinearGradient = z.object({
  type: z.literal("linear_gradient"),
  angle: z.number().finite().default(180),
  stops: z.array(GradientStop).min(2).max(16),
});
export const BackgroundImage = z.object({
  type: z.literal("image"),
  image_url: HttpUrl,
  fit: z.enum(["cover", "contain", "fill"]).default("cover"),
});
/** Canvas background: a colour, a linear gradient, or an image. */
export const Background = z.union([Color, LinearGradient, BackgroundImage]);

// Everything a layer of any type has: a unique name (the key modifications use), a box,
// opacity, a rotation around the box's centre (degrees, clockwise), and hidden.
const LayerBase = z.object({
  name: z.string().min(1).max(100),
  x: Coordinate.default(0),
  y: Coordinate.default(0),
  width: Size,
  height: Size,
  opacity: Unit.default(1),
  rotation: z.number().finite().min(-360).max(360).default(0),
  hidden: z.boolean().default(false),
});

/**
 * remove_background belongs to image layers; on any other layer `true` is refused (rather than
 * dropped like an unknown key) so that nobody believes a text or shape had its background removed.
 */
const NoBackgroundRemoval = {
  remove_background: z.literal(false, { error: "remove_background applies to image layers only" }).optional(),
};

/**
 * Image layers of one document that may remove their background. Each removal takes 0.5-1 s of a
 * core and some hundreds of MB in the worker (docs/templates.md#background-removal); with at most
 * this many, a render's removals all run in its I/O stage, before it takes a CPU slot.
 */
export const MAX_BACKGROUND_REMOVALS = 4;

export const SHIPPED_FONT_FAMILIES = ["Inter", "Noto Serif", "JetBrains Mono"] as const;
export const FONT_WEIGHTS = [100, 200, 300, 400, 500, 600, 700, 800, 900] as const;
export type FontWeight = (typeof FONT_WEIGHTS)[number];
export const FontWeight = z
  .number()
  .refine((w): w is FontWeight => (FONT_WEIGHTS as readonly number[]).includes(w), "must be one of 100, 200, ..., 900")
  .transform((w) => w);
export const FontStyle = z.enum(["normal", "italic"]);
export type FontStyle = z.infer<typeof FontStyle>;

export const TextLayer = LayerBase.extend({
  type: z.literal("text"),
  text: z.string().max(10_000).default(""),
  /** A shipped family (Inter, Noto Serif, JetBrains Mono) or one the organisation uploaded. */
  font_family: z.string().min(1).max(100).default("Inter"),
  font_weight: FontWeight.default(400),
  font_style: FontStyle.default("normal"),
  /** Pixels. With auto_fit, the largest size tried. */
  font_size: z.number().min(1).max(1000).default(32),
  color: Color.default("#000000"),
  /** Fills the layer's box behind the text. */
  background_color: Color.optional(),
  align: z.enum(["left", "center", "right"]).default("left"),
  vertical_align: z.enum(["top", "middle", "bottom"]).default("top"),
  /** Multiple of the font size. */
  line_height: z.number().min(0.5).max(5).default(1.2),
  /** Extra space between letters, in pixels (may be negative). */
  letter_spacing: z.number().min(-50).max(200).default(0),
  /** At most this many lines; the last one ends with an ellipsis when text is cut. */
  max_lines: z.number().int().min(1).max(1000).optional(),
  /** Shrink from font_size down to min_font_size until the text fits its box (and max_lines). */
  auto_fit: z.boolean().default(false),
  min_font_size: z.number().min(1).max(1000).default(12),
  text_transform: z.enum(["none", "uppercase", "lowercase"]).default("none"),
  ...NoBackgroundRemoval,
});

export const ImageLayer = LayerBase.extend({
  type: z.literal("image"),
  // Absent: the layer shows `placeholder_color` until a modification supplies an image.
  image_url: HttpUrl.optional(),
  fit: z.enum(["cover", "contain", "fill"]).default("cover"),
  /** Which part of the image `cover` keeps: 0 = left/top edge, 0.5 = centre, 1 = right/bottom. */
  focal_x: Unit.default(0.5),
  focal_y: Unit.default(0.5),
  radius: z.number().min(0).max(MAX_CANVAS).default(0),
  placeholder_color: Color.default("#cbd5e1"),
  /**
   * Cut the subject out of the photo (docs/templates.md#background-removal): the source image goes
   * through the background-removal model before fit, crop and radius, so the layer has
   * transparency where the photo's background was. Priced on top of the render.
   */
  remove_background: z.boolean().default(false),
});

const Shape = {
  fill: Color.default("#000000"),
  stroke_color: Color.optional(),
  stroke_width: z.number().min(0).max(500).default(0),
  ...NoBackgroundRemoval,
};

export const RectLayer = LayerBase.extend({
  type: z.literal("rect"),
  ...Shape,
  radius: z.number().min(0).max(MAX_CANVAS).default(0),
});

export const EllipseLayer = LayerBase.extend({
  type: z.literal("ellipse"),
  ...Shape,
});

export const Layer = z.discriminatedUnion("type", [TextLayer, ImageLayer, RectLayer, EllipseLayer]);

export const TemplateDocument = z
  .object({
    width: z.number().int().min(1).max(MAX_CANVAS),
    height: z.number().int().min(1).max(MAX_CANVAS),
    background: Background.default("#ffffff"),
    layers: z.array(Layer).max(200).default([]),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.layers.forEach((layer, i) => {
      if (seen.has(layer.name)) {
        ctx.addIssue({ code: "custom", path: ["layers", i, "name"], message: `duplicate layer name "${layer.name}"` });
      }
      seen.add(layer.name);
      if (layer.type === "text" && layer.auto_fit && layer.min_font_size > layer.font_size) {
        ctx.addIssue({ code: "custom", path: ["layers", i, "min_font_size"], message: "must not exceed font_size" });
      }
    });
    const removals = doc.layers.flatMap((layer, i) => (layer.type === "image" && layer.remove_background ? [i] : []));
    if (removals.length > MAX_BACKGROUND_REMOVALS) {
      ctx.addIssue({
        code: "custom",
        path: ["layers", removals[MAX_BACKGROUND_REMOVALS]!, "remove_background"],
        message: `at most ${MAX_BACKGROUND_REMOVALS} image layers of a document may remove their background (this one has ${removals.length})`,
      });
    }
    const problem = renderBudgetProblem(doc, 1);
    if (problem) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
  });

// ---------------------------------------------------------------------------------------------
// Render budgets known before rendering (the renderer checks the same numbers again)

/** A layer's geometry (x, y and rotation default to 0, as in the schema); text layers add their type size. */
type Box = {
  x?: number;
  y?: number;
  width: number;
  height: number;
  rotation?: number;
  type?: string;
  font_size?: number;
  line_height?: number;
};

/**
 * What a text layer's raster can cost (px, unscaled): Pango draws whole lines, the box wide (or
 * three glyphs, if wider), for the lines that can show plus a line of ink either side — however
 * little of the box lies on the canvas. A 10-px-high strip with 1000-px type is one line 1200 px
 * tall, not 10 px of work.
 */
function textRasterCost(layer: Box, canvasHeight: number): number {
  if (layer.type !== "text" || !layer.font_size) return 0;
  const lineHeight = layer.font_size * (layer.line_height ?? 1.2);
  return Math.max(layer.width, layer.font_size * 3) * (Math.min(layer.height, canvasHeight) + 4 * lineHeight);
}

/** Canvas area (px, unscaled) the layer's box can cover: its rotated bounds clipped to the canvas. */
export function layerCoverage(layer: Box, canvasWidth: number, canvasHeight: number): number {
  const rotation = layer.rotation ?? 0;
  const t = (rotation * Math.PI) / 180;
  const c = Math.abs(Math.cos(t));
  const s = Math.abs(Math.sin(t));
  const straight = rotation % 180 === 0;
  // Half extents of the rotated box's bounds (exact when it is not turned at all).
  const hw = straight ? layer.width / 2 : (layer.width * c + layer.height * s) / 2;
  const hh = straight ? layer.height / 2 : (layer.width * s + layer.height * c) / 2;
  const cx = (layer.x ?? 0) + layer.width / 2;
  const cy = (layer.y ?? 0) + layer.height / 2;
  const w = Math.min(canvasWidth, cx + hw) - Math.max(0, cx - hw);
  const h = Math.min(canvasHeight, cy + hh) - Math.max(0, cy - hh);
  return w > 0 && h > 0 ? w * h : 0;
}

export interface PixelWork {
  /** Output pixels: round(width x scale) x round(height x scale). */
  output: number;
  /** Sum of the layers' coverage (a text layer: its raster, if larger), times scale². */
  layers: number;
}

export function pixelWork(
  doc: Pick<TemplateDocument, "width" | "height"> & { layers: readonly Box[] },
  scale: number,
): PixelWork {
  const output = Math.max(1, Math.round(doc.width * scale)) * Math.max(1, Math.round(doc.height * scale));
  const covered = doc.layers.reduce(
    (sum, layer) => sum + Math.max(layerCoverage(layer, doc.width, doc.height), textRasterCost(layer, doc.height)),
    0,
  );
  return { output, layers: Math.ceil(covered * scale * scale) };
}

const megapixels = (n: number) => `${Math.round(n / 100_000) / 10} megapixels`;

/**
 * What makes a document too expensive to render at `scale`, or null: the output over
 * MAX_OUTPUT_PIXELS, or the layers' pixel work over MAX_LAYER_PIXELS. `path` points at what to
 * change (the scale when the document alone is within the limits).
 */
export function renderBudgetProblem(
  doc: Pick<TemplateDocument, "width" | "height"> & { layers: readonly Box[] },
  scale: number,
): { path: (string | number)[]; message: string } | null {
  const work = pixelWork(doc, scale);
  const atScale = scale === 1 ? "" : ` at scale ${scale}`;
  if (work.output > MAX_OUTPUT_PIXELS) {
    const w = Math.max(1, Math.round(doc.width * scale));
    const h = Math.max(1, Math.round(doc.height * scale));
    return {
      path: scale === 1 ? ["width"] : ["scale"],
      message: `the output would be ${w}x${h} pixels${atScale}, more than the ${MAX_OUTPUT_PIXELS / 1_000_000}-megapixel output limit`,
    };
  }
  if (work.layers > MAX_LAYER_PIXELS) {
    const withinAtOne = scale !== 1 && pixelWork(doc, 1).layers <= MAX_LAYER_PIXELS;
    return {
      path: withinAtOne ? ["scale"] : ["layers"],
      message:
        `the layers cover ${megapixels(work.layers)} of canvas in total${atScale} (each layer counts the part of the canvas its box ` +
        `can cover, a text layer at least the lines it draws), more than the ${MAX_LAYER_PIXELS / 1_000_000}-megapixel limit on layer pixels: use fewer or smaller layers`,
    };
  }
  return null;
}

type Background = z.infer<typeof Background>;
export type LinearGradient = z.infer<typeof LinearGradient>;
export type TextLayer = z.infer<typeof TextLayer>;
export type ImageLayer = z.infer<typeof ImageLayer>;
export type RectLayer = z.infer<typeof RectLayer>;
export type EllipseLayer = z.infer<typeof EllipseLayer>;
export type Layer = z.infer<typeof Layer>;
export type TemplateDocument = z.infer<typeof TemplateDocument>;

export const OUTPUT_FORMATS = ["png", "jpeg", "webp"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Output options of a render request. */
export const OutputOptions = z.object({
  format: z.enum(OUTPUT_FORMATS).default("png"),
  /** 1-100, for jpeg and webp. Default 85. */
  quality: z.number().int().min(1).max(100).optional(),
  /** Multiplies the canvas size (0.1 to 4), e.g. 2 for retina. */
  scale: z.number().min(0.1).max(4).default(1),
});
export type OutputOptions = z.infer<typeof OutputOptions>;
