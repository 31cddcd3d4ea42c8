// The editor's edits to a template document, as a pure reducer (undo and redo wrap it: see
// history.ts). The document is the API's own TemplateDocument (src/templates/document.ts), with
// every default filled in, as the API returns it; layers are addressed by their unique name,
// which is also what the layer list and the canvas select by.
import type {
  EllipseLayer,
  ImageLayer,
  Layer,
  RectLayer,
  TemplateDocument,
  TextLayer,
} from "../../../templates/document.js";

export type { Layer, TemplateDocument };
export type LayerType = Layer["type"];
export type Background = TemplateDocument["background"];
/** The fields of a layer an edit may change (never its type). */
export type LayerChanges = Partial<Omit<TextLayer, "type" | "remove_background">> &
  Partial<Omit<ImageLayer, "type">> &
  Partial<Omit<RectLayer, "type" | "remove_background">> &
  Partial<Omit<EllipseLayer, "type" | "remove_background">>;

export type DocumentAction =
  | { type: "add-layer"; layer: Layer }
  | { type: "delete-layer"; name: string }
  | { type: "duplicate-layer"; name: string; copyName: string }
  /** Moves the layer to `index` in drawing order (0 = bottom). */
  | { type: "reorder-layer"; name: string; index: number }
  | { type: "update-layer"; name: string; changes: LayerChanges }
  | { type: "nudge-layer"; name: string; dx: number; dy: number }
  | { type: "update-canvas"; changes: Partial<Pick<TemplateDocument, "width" | "height" | "background">> };

/** Same limit as the API (src/templates/document.ts). */
export const MAX_LAYERS = 200;

const BASE_NAMES: Record<LayerType, string> = { text: "text", image: "image", rect: "rectangle", ellipse: "ellipse" };

/** The first free name of the form base_1, base_2, …. */
export function freeName(doc: TemplateDocument, base: string): string {
  const taken = new Set(doc.layers.map((l) => l.name));
  for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/**
 * A new layer of the type with every field at the API's default (the renderer's own defaults,
 * spelled out so the properties panel shows real values), centred on the canvas.
 */
export function createLayer(doc: TemplateDocument, type: LayerType): Layer {
  const name = freeName(doc, BASE_NAMES[type]);
  const width = Math.max(20, Math.round(doc.width * (type === "text" ? 0.5 : 0.25)));
  const height = Math.max(20, Math.round(type === "text" ? Math.min(120, doc.height * 0.2) : doc.height * 0.25));
  const base = {
    name,
    x: Math.round((doc.width - width) / 2),
    y: Math.round((doc.height - height) / 2),
    width,
    height,
    opacity: 1,
    rotation: 0,
    hidden: false,
  };
  switch (type) {
    case "text":
      return {
        ...base,
        type,
        text: "Your text here",
        font_family: "Inter",
        font_weight: 400,
        font_style: "normal",
        font_size: 48,
        color: "#0f172a",
        align: "left",
        vertical_align: "top",
        line_height: 1.2,
        letter_spacing: 0,
        auto_fit: false,
        min_font_size: 12,
        text_transform: "none",
      };
    case "image":
      return {
        ...base,
        type,
        fit: "cover",
        focal_x: 0.5,
        focal_y: 0.5,
        radius: 0,
        placeholder_color: "#cbd5e1",
        remove_background: false,
      };
    case "rect":
      return { ...base, type, fill: "#6366f1", stroke_width: 0, radius: 0 };
    case "ellipse":
      return { ...base, type, fill: "#f59e0b", stroke_width: 0 };
  }
}

const replaceLayer = (doc: TemplateDocument, index: number, layer: Layer): TemplateDocument => ({
  ...doc,
  layers: doc.layers.map((l, i) => (i === index ? layer : l)),
});

export function documentReducer(doc: TemplateDocument, action: DocumentAction): TemplateDocument {
  switch (action.type) {
    case "add-layer": {
      if (doc.layers.length >= MAX_LAYERS || doc.layers.some((l) => l.name === action.layer.name)) return doc;
      return { ...doc, layers: [...doc.layers, action.layer] };
    }
    case "delete-layer": {
      const layers = doc.layers.filter((l) => l.name !== action.name);
      return layers.length === doc.layers.length ? doc : { ...doc, layers };
    }
    case "duplicate-layer": {
      const index = doc.layers.findIndex((l) => l.name === action.name);
      const original = doc.layers[index];
      if (!original || doc.layers.length >= MAX_LAYERS || doc.layers.some((l) => l.name === action.copyName))
        return doc;
      // Just above the original, offset so that it is visibly a second layer.
      const copy = { ...original, name: action.copyName, x: original.x + 20, y: original.y + 20 };
      return { ...doc, layers: [...doc.layers.slice(0, index + 1), copy, ...doc.layers.slice(index + 1)] };
    }
    case "reorder-layer": {
      const from = doc.layers.findIndex((l) => l.name === action.name);
      const to = Math.max(0, Math.min(doc.layers.length - 1, action.index));
      const layer = doc.layers[from];
      if (!layer || from === to) return doc;
      const layers = doc.layers.filter((_, i) => i !== from);
      layers.splice(to, 0, layer);
      return { ...doc, layers };
    }
    case "update-layer": {
      const index = doc.layers.findIndex((l) => l.name === action.name);
      const layer = doc.layers[index];
      if (!layer) return doc;
      const { changes } = action;
      // A rename to an empty or taken name is refused: names are what modifications address.
      if (
        changes.name !== undefined &&
        (changes.name === "" || (changes.name !== layer.name && doc.layers.some((l) => l.name === changes.name)))
      )
        return doc;
      const changed = Object.entries(changes).some(([k, v]) => (layer as Record<string, unknown>)[k] !== v);
      if (!changed) return doc;
      const next = { ...layer } as Record<string, unknown>;
      // `undefined` removes an optional field (max_lines, stroke_color, image_url, …).
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      return replaceLayer(doc, index, next as Layer);
    }
    case "nudge-layer": {
      const index = doc.layers.findIndex((l) => l.name === action.name);
      const layer = doc.layers[index];
      if (!layer || (action.dx === 0 && action.dy === 0)) return doc;
      return replaceLayer(doc, index, { ...layer, x: layer.x + action.dx, y: layer.y + action.dy });
    }
    case "update-canvas": {
      const changed = Object.entries(action.changes).some(([k, v]) => (doc as Record<string, unknown>)[k] !== v);
      return changed ? { ...doc, ...action.changes } : doc;
    }
  }
}

/** The layer with the name, or null. */
export const findLayer = (doc: TemplateDocument, name: string | null): Layer | null =>
  name === null ? null : (doc.layers.find((l) => l.name === name) ?? null);
