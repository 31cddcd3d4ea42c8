// What a render costs, in integer cents. By output size, like the commercial services: one
// price up to 4 megapixels, a higher one above; plus, on top, a price per background removal the
// render will run (an image layer with remove_background that is drawn: docs/money.md).
import type { TemplateDocument } from "../templates/document.js";
import { backgroundRemovalSources } from "../templates/layout.js";

export interface PriceTable {
  standardCents: number;
  largeCents: number;
  largeAboveMegapixels: number;
  /** Per background removal the render runs (a distinct image drawn with remove_background). */
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
 * The background removals a render of `doc` (modifications applied) at `scale` runs, each charged
 * on top of the render: the distinct images of the layers it draws with remove_background (not
 * hidden, not fully transparent, with an image, some of their box on the canvas, by the
 * renderer's own rule: src/templates/layout.ts). One image drawn twice is removed once.
 */
export function backgroundRemovals(doc: TemplateDocument, scale = 1): number {
  return backgroundRemovalSources(doc, scale).length;
}
