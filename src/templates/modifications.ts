// A render request's modifications: per-layer overrides by layer name, applied to a copy of the
// template document. Unknown names and properties that do not fit the layer are client errors.
import { z } from "zod";
import { Color, TemplateDocument, type Layer } from "./document.js";

export const Modification = z
  .object({
    name: z.string().min(1),
    text: z.string().max(10_000).optional(),
    image_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    color: Color.optional(),
    hide: z.boolean().optional(),
  })
  .strict();
export type Modification = z.infer<typeof Modification>;

export class ModificationError extends Error {
  constructor(
    message: string,
    readonly path: (string | number)[],
  ) {
    super(message);
  }
}

function applyOne(layer: Layer, mod: Modification, index: number): Layer {
  const at = (field: string) => ["modifications", index, field];
  const next: Layer = { ...layer };
  if (mod.hide !== undefined) next.hidden = mod.hide;
  if (mod.text !== undefined) {
    if (next.type !== "text") throw new ModificationError(`layer "${layer.name}" is a ${layer.type} layer; text applies to text layers`, at("text"));
    next.text = mod.text;
  }
  if (mod.image_url !== undefined) {
    if (next.type !== "image") throw new ModificationError(`layer "${layer.name}" is a ${layer.type} layer; image_url applies to image layers`, at("image_url"));
    next.image_url = mod.image_url;
  }
  if (mod.color !== undefined) {
    if (next.type === "text") next.color = mod.color;
    else if (next.type === "rect") next.fill = mod.color;
    else throw new ModificationError(`layer "${layer.name}" is an image layer; color applies to text and rect layers`, at("color"));
  }
  return next;
}

/** Returns a new document with the modifications applied; the template itself is untouched. */
export function applyModifications(doc: TemplateDocument, mods: Modification[]): TemplateDocument {
  const layers = [...doc.layers];
  const indexByName = new Map(layers.map((l, i) => [l.name, i]));
  mods.forEach((mod, i) => {
    const idx = indexByName.get(mod.name);
    if (idx === undefined) {
      const names = layers.map((l) => `"${l.name}"`).join(", ") || "(none)";
      throw new ModificationError(`unknown layer "${mod.name}"; the template's layers are ${names}`, ["modifications", i, "name"]);
    }
    layers[idx] = applyOne(layers[idx]!, mod, i);
  });
  return TemplateDocument.parse({ ...doc, layers });
}
