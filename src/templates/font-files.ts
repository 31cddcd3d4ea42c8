// Reading uploaded font files: parse (the validation: a file fontkit cannot read is not a font),
// describe (family, weight, style from the file's own tables), and unpack WOFF to the plain
// TrueType/OpenType container the text engine loads.
import { inflateSync } from "node:zlib";
import * as fontkit from "fontkit";
import { FONT_WEIGHTS, type FontStyle, type FontWeight } from "./document.js";

type UploadFormat = "ttf" | "otf" | "woff";

export interface FontDescription {
  format: UploadFormat;
  family: string;
  weight: FontWeight;
  style: FontStyle;
  /** TTF/OTF bytes ready for the renderer. */
  sfnt: Buffer;
}

export class InvalidFontError extends Error {}

const nearestWeight = (w: number): FontWeight =>
  FONT_WEIGHTS.reduce((best, c) => (Math.abs(c - w) < Math.abs(best - w) ? c : best), 400 as FontWeight);

export function describeFont(bytes: Buffer): FontDescription {
  const magic = bytes.subarray(0, 4).toString("latin1");
  let format: UploadFormat;
  if (magic === "wOFF") format = "woff";
  else if (magic === "OTTO") format = "otf";
  else if (magic === "\x00\x01\x00\x00" || magic === "true") format = "ttf";
  else if (magic === "wOF2")
    throw new InvalidFontError("WOFF2 fonts are not supported: upload the TTF, OTF or WOFF file");
  else if (magic === "ttcf")
    throw new InvalidFontError("font collections (.ttc) are not supported: upload one face as TTF or OTF");
  else throw new InvalidFontError("not a font file: expected TTF, OTF or WOFF");

  const sfnt = format === "woff" ? woffToSfnt(bytes) : bytes;
  // fontkit decodes tables lazily, on first access: every read of the font stays inside the try,
  // or a damaged table (say `post`, behind italicAngle) throws later as a 500 (found by the
  // hostile-input property with a random seed).
  try {
    const font = fontkit.create(sfnt);
    if (!("familyName" in font)) throw new Error("a collection");
    if (!font.familyName || font.numGlyphs < 2) throw new Error("it has no family name or no glyphs");
    // Touch the tables the text engine needs, so a truncated file fails here, not at render time.
    void font.characterSet.length;
    const os2 = font["OS/2"] as { usWeightClass?: number; fsSelection?: { italic?: boolean } } | undefined;
    return {
      format,
      family: font.familyName,
      weight: nearestWeight(os2?.usWeightClass ?? 400),
      style: os2?.fsSelection?.italic || font.italicAngle !== 0 ? "italic" : "normal",
      sfnt,
    };
  } catch (e) {
    throw new InvalidFontError(`the file could not be parsed as a font: ${(e as Error).message}`);
  }
}

/** WOFF 1.0 -> SFNT: inflate each table and lay them out with a plain table directory. */
function woffToSfnt(woff: Buffer): Buffer {
  try {
    const flavor = woff.readUInt32BE(4);
    const numTables = woff.readUInt16BE(12);
    const tables: { tag: number; checksum: number; data: Buffer }[] = [];
    for (let i = 0; i < numTables; i++) {
      const e = 44 + i * 20;
      const [offset, compLength, origLength] = [
        woff.readUInt32BE(e + 4),
        woff.readUInt32BE(e + 8),
        woff.readUInt32BE(e + 12),
      ];
      if (offset + compLength > woff.length) throw new Error("table outside the file");
      const raw = woff.subarray(offset, offset + compLength);
      const data = compLength < origLength ? inflateSync(raw, { maxOutputLength: origLength }) : Buffer.from(raw);
      if (data.length !== origLength) throw new Error("table length mismatch");
      tables.push({ tag: woff.readUInt32BE(e), checksum: woff.readUInt32BE(e + 16), data });
    }
    tables.sort((a, b) => a.tag - b.tag);
    const entrySelector = Math.floor(Math.log2(numTables));
    const searchRange = 2 ** entrySelector * 16;
    const header = Buffer.alloc(12 + numTables * 16);
    header.writeUInt32BE(flavor, 0);
    header.writeUInt16BE(numTables, 4);
    header.writeUInt16BE(searchRange, 6);
    header.writeUInt16BE(entrySelector, 8);
    header.writeUInt16BE(numTables * 16 - searchRange, 10);
    const chunks: Buffer[] = [header];
    let offset = header.length;
    tables.forEach((t, i) => {
      header.writeUInt32BE(t.tag, 12 + i * 16);
      header.writeUInt32BE(t.checksum, 16 + i * 16);
      header.writeUInt32BE(offset, 20 + i * 16);
      header.writeUInt32BE(t.data.length, 24 + i * 16);
      const padded = Buffer.alloc((t.data.length + 3) & ~3);
      t.data.copy(padded);
      chunks.push(padded);
      offset += padded.length;
    });
    return Buffer.concat(chunks);
  } catch (e) {
    throw new InvalidFontError(`the WOFF file is damaged: ${(e as Error).message}`);
  }
}
