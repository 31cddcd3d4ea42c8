// Fonts: the faces the project ships (npm packages @expo-google-fonts/*, every weight and italic),
// never the host's, plus faces an organisation uploaded (passed per render in RenderOptions.fonts).
//
// Choosing a face is done here, not by fontconfig: a text layer's family/weight/style selects one
// file (uploaded faces of that family first, then the shipped ones; nearest weight, preferring the
// requested style). That file is then registered with fontconfig as a renamed copy whose family
// name is unique to its content (see sfnt.ts), and Pango is asked for exactly that family, so the
// chosen file is the one that draws, whatever else is installed or was uploaded by anyone.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, rename, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as fontkit from "fontkit";
import { FONT_WEIGHTS, SHIPPED_FONT_FAMILIES, type FontStyle, type FontWeight } from "../templates/document.js";
import { renameFontFamily, SfntError } from "./sfnt.js";

export type { FontStyle, FontWeight } from "../templates/document.js";
export type ShippedFontFamily = (typeof SHIPPED_FONT_FAMILIES)[number];

/** A font face an organisation uploaded, as the worker passes it to the renderer. */
export interface UploadedFontFace {
  /** The family name templates use (font_family), e.g. "Brand Sans". */
  family: string;
  weight: FontWeight;
  style: FontStyle;
  /** Absolute path to a TTF or OTF file. */
  file: string;
  /** The family name inside the font file (name table). */
  internalFamily: string;
}

/** One selectable face: a file with the family/weight/style it stands for. */
export interface FontFaceFile {
  family: string;
  weight: FontWeight;
  style: FontStyle;
  file: string;
  /** Family name inside the file; only used when the file cannot be renamed (see loadFontFace). */
  internalFamily: string;
  shipped: boolean;
}

const require = createRequire(import.meta.url);

const PACKAGES: Record<ShippedFontFamily, { pkg: string; prefix: string }> = {
  Inter: { pkg: "@expo-google-fonts/inter", prefix: "Inter" },
  "Noto Serif": { pkg: "@expo-google-fonts/noto-serif", prefix: "NotoSerif" },
  "JetBrains Mono": { pkg: "@expo-google-fonts/jetbrains-mono", prefix: "JetBrainsMono" },
};
const WEIGHT_NAMES: Record<FontWeight, string> = {
  100: "Thin",
  200: "ExtraLight",
  300: "Light",
  400: "Regular",
  500: "Medium",
  600: "SemiBold",
  700: "Bold",
  800: "ExtraBold",
  900: "Black",
};

function resolveShippedFile(family: ShippedFontFamily, weight: FontWeight, style: FontStyle): string | undefined {
  const { pkg, prefix } = PACKAGES[family];
  const dir = `${weight}${WEIGHT_NAMES[weight]}${style === "italic" ? "_Italic" : ""}`;
  let file: string;
  try {
    file = require.resolve(`${pkg}/${dir}/${prefix}_${dir}.ttf`);
  } catch {
    return undefined; // this family does not ship this weight (JetBrains Mono has no 900)
  }
  return existsSync(file) ? file : undefined;
}

function buildShippedFaces(): readonly FontFaceFile[] {
  const faces: FontFaceFile[] = [];
  for (const family of SHIPPED_FONT_FAMILIES) {
    for (const style of ["normal", "italic"] as const) {
      for (const weight of FONT_WEIGHTS) {
        const file = resolveShippedFile(family, weight, style);
        if (file) faces.push({ family, weight, style, file, internalFamily: family, shipped: true });
      }
    }
    // Regular and Bold are the minimum every shipped family must have; checked once at load.
    for (const weight of [400, 700] as const) {
      if (!faces.some((f) => f.family === family && f.weight === weight && f.style === "normal")) {
        throw new Error(`font file for ${family} ${weight} not found: is ${PACKAGES[family].pkg} installed?`);
      }
    }
  }
  return Object.freeze(faces);
}

/** Every shipped face (family x weight x style) with its absolute TTF path. Checked when this module loads. */
const SHIPPED_FONT_FACES = buildShippedFaces();

/**
 * CSS font matching for weights: the requested weight if present; for 400-500 first up to 500,
 * then down, then up; below 400 down first then up; above 500 up first then down.
 */
function weightRank(desired: number, available: number): number {
  if (available === desired) return 0;
  if (desired >= 400 && desired <= 500) {
    if (available > desired && available <= 500) return available - desired;
    if (available < desired) return 1000 + (desired - available);
    return 2000 + (available - desired);
  }
  if (desired < 400) return available < desired ? desired - available : 1000 + (available - desired);
  return available > desired ? available - desired : 1000 + (desired - available);
}

function nearestFace<T extends { weight: number; style: FontStyle }>(
  faces: readonly T[],
  weight: number,
  style: FontStyle,
): T | undefined {
  let best: T | undefined;
  let bestRank = Infinity;
  for (const face of faces) {
    const rank = (face.style === style ? 0 : 10_000) + weightRank(weight, face.weight);
    if (rank < bestRank) {
      best = face;
      bestRank = rank;
    }
  }
  return best;
}

const normalizeFamily = (family: string) => family.trim().replace(/\s+/g, " ").toLowerCase();

/**
 * The face that draws `family` at `weight`/`style`: the organisation's uploaded faces of that family
 * if it has any, else the shipped family; nearest weight, preferring the requested style (no
 * synthetic bold or slant). Undefined when the family is neither uploaded nor shipped.
 */
export function selectFontFace(
  family: string,
  weight: number,
  style: FontStyle,
  uploaded: readonly UploadedFontFace[] = [],
): FontFaceFile | undefined {
  const wanted = normalizeFamily(family);
  const own = uploaded.filter((f) => normalizeFamily(f.family) === wanted);
  if (own.length > 0) {
    const face = nearestFace(own, weight, style)!;
    return {
      family: face.family,
      weight: face.weight,
      style: face.style,
      file: face.file,
      internalFamily: face.internalFamily,
      shipped: false,
    };
  }
  return nearestFace(
    SHIPPED_FONT_FACES.filter((f) => normalizeFamily(f.family) === wanted),
    weight,
    style,
  );
}

/** The shipped TTF for a family at the nearest available weight and style. */
export function fontFileFor(family: ShippedFontFamily, weight: FontWeight, style: FontStyle = "normal"): string {
  const face = selectFontFace(family, weight, style);
  if (!face) throw new Error(`no shipped font ${family}`);
  return face.file;
}

// ---------------------------------------------------------------------------------------------
// Loading: renamed copy for fontconfig, parsed font for measuring.

/** A face ready to lay out (fontkit) and draw (Pango). */
export interface LoadedFontFace {
  face: FontFaceFile;
  /** Parsed font, for measuring. */
  font: fontkit.Font;
  /** File to hand to libvips (`fontfile`). */
  renderFile: string;
  /** Pango family that selects exactly renderFile. */
  pangoFamily: string;
  /** True when pangoFamily is unique to this file (the normal case). */
  exact: boolean;
}

export class FontLoadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * Where renamed copies live: shared by this user's processes (file names are content hashes,
 * contents are verified before use). If the directory is not private to this user, each
 * process uses a fresh private one instead.
 */
const FONT_CACHE_DIR = path.join(os.tmpdir(), `templified-fonts-${process.getuid?.() ?? "user"}`);
let cacheDir: Promise<string> | undefined;

function fontCacheDir(): Promise<string> {
  cacheDir ??= (async () => {
    try {
      await mkdir(FONT_CACHE_DIR, { recursive: true, mode: 0o700 });
      const st = await lstat(FONT_CACHE_DIR);
      const ours = process.getuid === undefined || st.uid === process.getuid();
      if (st.isDirectory() && ours && (st.mode & 0o022) === 0) return FONT_CACHE_DIR;
    } catch {
      // fall through to a private directory
    }
    return mkdtemp(path.join(os.tmpdir(), "templified-fonts-"));
  })();
  return cacheDir;
}

/** Write `data` to `file` unless it already holds exactly that (atomically: temp file + rename). */
async function ensureFile(file: string, data: Buffer): Promise<void> {
  const existing = await readFile(file).catch(() => undefined);
  if (existing?.equals(data)) return;
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
}
const loaded = new Map<string, Promise<LoadedFontFace>>();
const MAX_LOADED_FACES = 256;

const PANGO_WEIGHT_WORDS: Record<number, string> = {
  100: "Thin",
  200: "Ultra-Light",
  300: "Light",
  400: "",
  500: "Medium",
  600: "Semi-Bold",
  700: "Bold",
  800: "Ultra-Bold",
  900: "Heavy",
};

async function load(face: FontFaceFile): Promise<LoadedFontFace> {
  let bytes: Buffer;
  try {
    bytes = await readFile(face.file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FontLoadError(
      `the font file for "${face.family}" could not be read (${code ?? "error"})`,
      code !== "ENOENT",
    );
  }
  let font: fontkit.Font;
  try {
    const parsed = fontkit.create(bytes);
    if (!("unitsPerEm" in parsed) || !parsed.unitsPerEm) throw new Error("font collections are not supported");
    font = parsed;
  } catch (err) {
    throw new FontLoadError(
      `the font file for "${face.family}" is not a usable TTF/OTF font (${err instanceof Error ? err.message : String(err)})`,
      false,
    );
  }
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 24);
  const pangoFamily = `TF${hash}`;
  let renamed: Buffer;
  try {
    renamed = renameFontFamily(bytes, pangoFamily, font.subfamilyName || "Regular");
  } catch (err) {
    if (!(err instanceof SfntError) || face.shipped) throw err;
    // Cannot rewrite it: register the file as it is and ask for its own names (less exact).
    return { face, font, renderFile: face.file, pangoFamily: face.internalFamily, exact: false };
  }
  const ext = bytes.readUInt32BE(0) === 0x4f54544f ? "otf" : "ttf";
  try {
    const renderFile = path.join(await fontCacheDir(), `${hash}.${ext}`);
    await ensureFile(renderFile, renamed);
    return { face, font, renderFile, pangoFamily, exact: true };
  } catch {
    // No writable temp directory: the original file, selected by its own names (less exact).
    return { face, font, renderFile: face.file, pangoFamily: face.internalFamily, exact: false };
  }
}

/** Load (once per file and modification time) the face: parse it and prepare its renamed copy. */
export async function loadFontFace(face: FontFaceFile): Promise<LoadedFontFace> {
  let key = face.file;
  if (!face.shipped) {
    const st = await stat(face.file).catch(() => undefined);
    key = `${face.file}\0${st?.size ?? 0}\0${st?.mtimeMs ?? 0}\0${face.internalFamily}`;
  }
  let entry = loaded.get(key);
  if (!entry) {
    entry = load(face);
    loaded.set(key, entry);
    entry.catch(() => loaded.delete(key));
    if (loaded.size > MAX_LOADED_FACES) loaded.delete(loaded.keys().next().value!);
  }
  return entry;
}

/**
 * A Pango font description selecting the loaded face at an absolute pixel size, e.g.
 * "TF0123abcd..., 48px". The trailing comma ends the family list; "px" makes the size absolute
 * (independent of DPI). For a face that could not be renamed, weight and style words are added.
 */
export function pangoFontDescription(face: LoadedFontFace, sizePx: number): string {
  const size = Math.round(sizePx * 1000) / 1000;
  if (face.exact) return `${face.pangoFamily}, ${size}px`;
  const words = [PANGO_WEIGHT_WORDS[face.face.weight] ?? "", face.face.style === "italic" ? "Italic" : ""]
    .filter(Boolean)
    .join(" ");
  return `${face.pangoFamily.replace(/[,\\]/g, " ")}, ${words ? `${words} ` : ""}${size}px`;
}
