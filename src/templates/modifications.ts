// A render request's modifications: per-layer overrides by layer name, applied to a copy of the
// template document. Unknown names and properties that do not fit the layer are client errors.
import { TemplateDocument, type Layer } from "./document.js";
import { Modification } from "../views/requests.js";

export class ModificationError extends Error {
  constructor(
    message: string,
    readonly path: (string | number)[],
  ) {
    super(message);
  }
}

const TEXT_ONLY = ["text", "font_size", "font_family", "font_weight"] as const;

function applyOne(layer: Layer, mod: Modification, index: number): Layer {
  const refuse = (field: string, appliesTo: string): never => {
    throw new ModificationError(`layer "${layer.name}" is a ${layer.type} layer; ${field} applies to ${appliesTo}`, [
      "modifications",
      index,
      field,
    ]);
  };
  const next: Layer = { ...layer };
  if (mod.hide !== undefined) next.hidden = mod.hide;
  if (mod.opacity !== undefined) next.opacity = mod.opacity;
  if (next.type === "text") {
    if (mod.text !== undefined) next.text = mod.text;
    if (mod.color !== undefined) next.color = mod.color;
    if (mod.background !== undefined) next.background_color = mod.background;
    if (mod.font_size !== undefined) {
      next.font_size = mod.font_size;
      if (next.min_font_size > mod.font_size) next.min_font_size = mod.font_size;
    }
    if (mod.font_family !== undefined) next.font_family = mod.font_family;
    if (mod.font_weight !== undefined) next.font_weight = mod.font_weight;
  } else {
    for (const field of TEXT_ONLY) if (mod[field] !== undefined) refuse(field, "text layers");
  }
  if (mod.image_url !== undefined) {
    if (next.type !== "image") refuse("image_url", "image layers");
    else next.image_url = mod.image_url;
  }
  if (mod.remove_background !== undefined) {
    if (next.type !== "image") refuse("remove_background", "image layers");
    else next.remove_background = mod.remove_background;
  }
  if (next.type === "rect" || next.type === "ellipse") {
    const fill = mod.color ?? mod.background;
    if (fill !== undefined) next.fill = fill;
  } else if (next.type === "image") {
    if (mod.color !== undefined) refuse("color", "text, rect and ellipse layers");
    if (mod.background !== undefined) refuse("background", "text, rect and ellipse layers");
  }
  return next;
}

/**
 * Returns a new document with the modifications applied; the template itself is untouched.
 * With `skipUnknownLayers` (design groups: one set of modifications for templates of different
 * layouts), a modification naming a layer this template does not have is skipped.
 */
export function applyModifications(
  doc: TemplateDocument,
  mods: Modification[],
  opts: { skipUnknownLayers?: boolean } = {},
): TemplateDocument {
  const layers = [...doc.layers];
  const indexByName = new Map(layers.map((l, i) => [l.name, i]));
  mods.forEach((mod, i) => {
    const idx = indexByName.get(mod.name);
    if (idx === undefined && opts.skipUnknownLayers) return;
    if (idx === undefined) {
      const names = layers.map((l) => `"${l.name}"`).join(", ") || "(none)";
      throw new ModificationError(`unknown layer "${mod.name}"; the template's layers are ${names}`, [
        "modifications",
        i,
        "name",
      ]);
    }
    layers[idx] = applyOne(layers[idx]!, mod, i);
  });
  return TemplateDocument.parse({ ...doc, layers });
}
