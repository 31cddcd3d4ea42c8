// What a render costs, in integer cents. By output size, like the commercial services: one
// price up to 4 megapixels, a higher one above; plus, on top, a price per background removal the
// render will run (an image layer with remove_background that is drawn: docs/money.md).
import { layerCoverage, type TemplateDocument } from "../templates/document.js";

export interface PriceTable {
  standardCents: number;
  largeCents: number;
  largeAboveMegapixels: number;
  /** Per image layer with remove_background that the render draws. */
  backgroundRemovalCents: number;
}

export function priceTable(config: {
  PRICE_CENTS_PER_RENDER: number;
  PRICE_CENTS_LARGE_RENDER: number;
  PRICE_CENTS_BACKGROUND_REMOVAL: number;
}): PriceTable {
  return {
    standardCents: config.PRICE_CENTS_PER_RENDER,
    largeCents: config.PRICE_CENTS_LARGE_RENDER,
    largeAboveMegapixels: 4,
    backgroundRemovalCents: config.PRICE_CENTS_BACKGROUND_REMOVAL,
  };
}

export function priceForRender(table: PriceTable, size: { width: number; height: number }): number {
  return size.width * size.height > table.largeAboveMegapixels * 1_000_000 ? table.largeCents : table.standardCents;
}

/**
 * Image layers of `doc` (modifications applied) whose background the render removes: those with
 * remove_background that are drawn — not hidden, not fully transparent, with an image to draw and
 * some of their box on the canvas. The renderer skips the others, so they are not charged.
 */
export function backgroundRemovals(doc: TemplateDocument): number {
  return doc.layers.filter(
    (layer) =>
      layer.type === "image" &&
      layer.remove_background &&
      layer.image_url !== undefined &&
      !layer.hidden &&
      layer.opacity > 0 &&
      layerCoverage(layer, doc.width, doc.height) > 0,
  ).length;
}
