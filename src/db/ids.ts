// Public identifiers: a type prefix (the contract's `clx_`, `tpl_`, ...) and 24 random base-36
// characters (~124 bits), so ids are unguessable and output URLs derived from them are too.
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

export type IdPrefix = "clx" | "tpl" | "org" | "key" | "led" | "fnt" | "dgr" | "wha" | "stp";

export function newId(prefix: IdPrefix): string {
  const bytes = randomBytes(24);
  let out = "";
  for (const b of bytes) out += ALPHABET[b % 36];
  return `${prefix}_${out}`;
}
