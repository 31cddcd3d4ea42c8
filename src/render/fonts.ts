// The fonts the project ships (npm packages @expo-google-fonts/*), never the host's. Paths are
// resolved through Node's module resolution so they work from any cwd, and checked once at load.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { FONT_FAMILIES } from "../templates/document.js";

export type FontFamily = (typeof FONT_FAMILIES)[number];
export type FontWeight = 400 | 700;

const require = createRequire(import.meta.url);

const PACKAGES: Record<FontFamily, { pkg: string; prefix: string }> = {
  Inter: { pkg: "@expo-google-fonts/inter", prefix: "Inter" },
  "Noto Serif": { pkg: "@expo-google-fonts/noto-serif", prefix: "NotoSerif" },
  "JetBrains Mono": { pkg: "@expo-google-fonts/jetbrains-mono", prefix: "JetBrainsMono" },
};
const WEIGHT_DIRS: Record<FontWeight, string> = { 400: "400Regular", 700: "700Bold" };

function resolveFontFile(family: FontFamily, weight: FontWeight): string {
  const { pkg, prefix } = PACKAGES[family];
  const dir = WEIGHT_DIRS[weight];
  const specifier = `${pkg}/${dir}/${prefix}_${dir}.ttf`;
  let path: string;
  try {
    path = require.resolve(specifier);
  } catch (err) {
    throw new Error(`font file ${specifier} not found: is ${pkg} installed?`, { cause: err });
  }
  if (!existsSync(path)) throw new Error(`font file ${path} (${family} ${weight}) does not exist`);
  return path;
}

function buildFontTable(): Readonly<Record<FontFamily, Readonly<Record<FontWeight, string>>>> {
  const table = {} as Record<FontFamily, Record<FontWeight, string>>;
  for (const family of FONT_FAMILIES) {
    table[family] = { 400: resolveFontFile(family, 400), 700: resolveFontFile(family, 700) };
  }
  return table;
}

/** Absolute TTF paths, family x weight. Built (and every file checked) when this module loads. */
export const FONT_FILES = buildFontTable();

export function fontFileFor(family: FontFamily, weight: FontWeight): string {
  return FONT_FILES[family][weight];
}

/**
 * A Pango font description selecting exactly the shipped face at an absolute pixel size, e.g.
 * "Noto Serif, Bold 48px". The trailing comma ends the family list, so multi-word family names
 * are not mistaken for style words; "px" makes the size absolute (independent of DPI).
 */
export function pangoFontDescription(family: FontFamily, weight: FontWeight, sizePx: number): string {
  const size = Math.round(sizePx * 100) / 100;
  return `${family}, ${weight === 700 ? "Bold " : ""}${size}px`;
}
