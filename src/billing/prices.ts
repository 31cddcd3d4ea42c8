// What a render costs, in integer cents. By output size, like the commercial services: one
// price up to 4 megapixels, a higher one above.
export interface PriceTable {
  standardCents: number;
  largeCents: number;
  largeAboveMegapixels: number;
}

export function priceTable(config: { PRICE_CENTS_PER_RENDER: number; PRICE_CENTS_LARGE_RENDER: number }): PriceTable {
  return {
    standardCents: config.PRICE_CENTS_PER_RENDER,
    largeCents: config.PRICE_CENTS_LARGE_RENDER,
    largeAboveMegapixels: 4,
  };
}

export function priceForRender(table: PriceTable, size: { width: number; height: number }): number {
  return size.width * size.height > table.largeAboveMegapixels * 1_000_000 ? table.largeCents : table.standardCents;
}
