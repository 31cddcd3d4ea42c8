// Fonts an organisation can use: the families the project ships, plus faces it uploaded.
// Uploads are validated by parsing, size-limited, unpacked to TTF/OTF and kept in storage.
import { z } from "zod";
import type { Prisma } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Font } from "../generated/prisma/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { contentTypeForKey } from "../storage/content-type.js";
import type { Storage } from "../storage/storage.js";
import { FontStyle, FontWeight, SHIPPED_FONT_FAMILIES } from "./document.js";
import { describeFont, InvalidFontError } from "./font-files.js";
import {
  deleteFontRow,
  findFontFace,
  findFontForOrg,
  findFontsOfFamilies,
  findUploadedFamilies,
  insertFont,
  listFontsForOrg,
  updateFont,
} from "./template-repository.js";

/** Query options of an upload; each defaults to what the file itself says. */
export const FontUploadOptions = z.object({
  family: z.string().trim().min(1).max(100).optional(),
  weight: z.coerce.number().pipe(FontWeight).optional(),
  style: FontStyle.optional(),
});
export type FontUploadOptions = z.infer<typeof FontUploadOptions>;

export interface FontView {
  font_id: string;
  family: string;
  weight: number;
  style: string;
  format: string;
  size_bytes: number;
  created_at: string;
}

export const fontView = (f: Font): FontView => ({
  font_id: f.id,
  family: f.family,
  weight: f.weight,
  style: f.style,
  format: f.format,
  size_bytes: f.sizeBytes,
  created_at: f.createdAt.toISOString(),
});

export class FontTooLargeError extends Error {}

export async function uploadFont(
  deps: { prisma: Prisma; storage: Storage },
  orgId: string,
  bytes: Buffer,
  options: FontUploadOptions,
  maxBytes: number,
): Promise<Font> {
  if (bytes.length > maxBytes) throw new FontTooLargeError(`font files are limited to ${maxBytes} bytes`);
  let described;
  try {
    described = describeFont(bytes);
  } catch (e) {
    if (e instanceof InvalidFontError) throw new ValidationError(e.message, ["body"]);
    throw e;
  }
  const family = options.family ?? described.family;
  if ((SHIPPED_FONT_FAMILIES as readonly string[]).some((f) => f.toLowerCase() === family.toLowerCase())) {
    throw new ValidationError(`"${family}" is a built-in family; upload the font under another name (?family=...)`, [
      "family",
    ]);
  }
  const id = newId("fnt");
  const key = `fonts/${id}.${described.format === "otf" ? "otf" : "ttf"}`;
  await deps.storage.put(key, described.sfnt, { contentType: contentTypeForKey(key) });
  const data = {
    family,
    weight: options.weight ?? described.weight,
    style: options.style ?? described.style,
    internalFamily: described.family,
    format: described.format,
    storageKey: key,
    sizeBytes: bytes.length,
  };
  // Uploading the same face again replaces it.
  const previous = await findFontFace(deps.prisma, orgId, data);
  const font = previous
    ? await updateFont(deps.prisma, previous.id, data)
    : await insertFont(deps.prisma, { id, orgId, ...data });
  if (previous) await deps.storage.delete(previous.storageKey);
  return font;
}

export function listFonts(prisma: Prisma, orgId: string): Promise<Font[]> {
  return listFontsForOrg(prisma, orgId);
}

export async function deleteFont(
  deps: { prisma: Prisma; storage: Storage },
  orgId: string,
  fontId: string,
): Promise<void> {
  const font = await findFontForOrg(deps.prisma, orgId, fontId);
  if (!font) throw new NotFoundError("font not found");
  await deleteFontRow(deps.prisma, font.id);
  await deps.storage.delete(font.storageKey);
}

/** Every family name the organisation's templates may use. */
export async function availableFamilies(prisma: Prisma, orgId: string): Promise<string[]> {
  return [...SHIPPED_FONT_FAMILIES, ...(await findUploadedFamilies(prisma, orgId))];
}

/** The uploaded faces of the given families, as the renderer takes them (files on local disk). */
export async function uploadedFaces(deps: { prisma: Prisma; storage: Storage }, orgId: string, families: string[]) {
  const custom = families.filter((f) => !(SHIPPED_FONT_FAMILIES as readonly string[]).includes(f));
  if (custom.length === 0) return [];
  const fonts = await findFontsOfFamilies(deps.prisma, orgId, custom);
  return Promise.all(
    fonts.map(async (f) => ({
      family: f.family,
      weight: f.weight as FontWeight,
      style: f.style as FontStyle,
      internalFamily: f.internalFamily,
      file: await deps.storage.localPath(f.storageKey),
    })),
  );
}
