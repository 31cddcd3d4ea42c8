// The template document: what a designer saves and what the renderer draws.
// Field names are snake_case like the rest of the REST contract. Validation lives here so the
// REST layer, GraphQL and the worker all agree on what a valid template is.
import { z } from "zod";

const HEX_COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
export const Color = z.string().regex(HEX_COLOR, "must be a hex colour such as #1e293b or #1e293bcc");

const MAX_CANVAS = 5000;
const Coordinate = z.number().finite().min(-MAX_CANVAS).max(MAX_CANVAS * 2);
const Size = z.number().finite().positive().max(MAX_CANVAS * 2);

// Everything a layer of any type has: a unique name (the key modifications use), a box, opacity.
const LayerBase = z.object({
  name: z.string().min(1).max(100),
  x: Coordinate.default(0),
  y: Coordinate.default(0),
  width: Size,
  height: Size,
  opacity: z.number().min(0).max(1).default(1),
  hidden: z.boolean().default(false),
});

export const FONT_FAMILIES = ["Inter", "Noto Serif", "JetBrains Mono"] as const;

export const TextLayer = LayerBase.extend({
  type: z.literal("text"),
  text: z.string().max(10_000).default(""),
  font_family: z.enum(FONT_FAMILIES).default("Inter"),
  font_weight: z.union([z.literal(400), z.literal(700)]).default(400),
  font_size: z.number().min(1).max(1000).default(32),
  color: Color.default("#000000"),
  align: z.enum(["left", "center", "right"]).default("left"),
  vertical_align: z.enum(["top", "middle", "bottom"]).default("top"),
  line_height: z.number().min(0.5).max(5).default(1.2),
});

export const ImageLayer = LayerBase.extend({
  type: z.literal("image"),
  // Absent: the layer shows `placeholder_color` until a modification supplies an image.
  image_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  fit: z.enum(["cover", "contain", "fill"]).default("cover"),
  placeholder_color: Color.default("#cbd5e1"),
});

export const RectLayer = LayerBase.extend({
  type: z.literal("rect"),
  fill: Color.default("#000000"),
  radius: z.number().min(0).max(MAX_CANVAS).default(0),
  stroke_color: Color.optional(),
  stroke_width: z.number().min(0).max(500).default(0),
});

export const Layer = z.discriminatedUnion("type", [TextLayer, ImageLayer, RectLayer]);

export const TemplateDocument = z
  .object({
    width: z.number().int().min(1).max(MAX_CANVAS),
    height: z.number().int().min(1).max(MAX_CANVAS),
    background: Color.default("#ffffff"),
    layers: z.array(Layer).max(200).default([]),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.layers.forEach((layer, i) => {
      if (seen.has(layer.name)) {
        ctx.addIssue({ code: "custom", path: ["layers", i, "name"], message: `duplicate layer name "${layer.name}"` });
      }
      seen.add(layer.name);
    });
  });

export type TextLayer = z.infer<typeof TextLayer>;
export type ImageLayer = z.infer<typeof ImageLayer>;
export type RectLayer = z.infer<typeof RectLayer>;
export type Layer = z.infer<typeof Layer>;
export type TemplateDocument = z.infer<typeof TemplateDocument>;

export const OUTPUT_FORMATS = ["png", "jpeg", "webp"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
