// Minimal OpenType (sfnt) rewriting: replace a font's `name` table so that the face is known to
// fontconfig/Pango under a family name nobody else uses.
//
// Why: Pango picks faces through fontconfig by family name, weight and slant, process-wide. With
// the names inside the files, selection is ambiguous (Inter Thin and Inter ExtraLight both declare
// OS/2 weight 250), a font uploaded by one organisation whose internal family is "Inter" could
// replace the shipped Inter (or another organisation's font) for everyone, and a host font of the
// same name could win. Registering a copy of every face under its own unique family makes the
// choice exact: the renderer decides which file draws a text layer, fontconfig only loads it.
//
// Only the `name` table changes (glyphs, metrics and layout tables are copied byte for byte), so
// the result renders exactly like the original. All offsets are bounds-checked: the input may be
// an uploaded (untrusted) file, and a malformed one is reported, never trusted.

export class SfntError extends Error {}

const u16 = (b: Buffer, o: number) => b.readUInt16BE(o);
const u32 = (b: Buffer, o: number) => b.readUInt32BE(o);

interface TableRecord {
  tag: string;
  offset: number;
  length: number;
}

function readTables(font: Buffer): { version: number; tables: TableRecord[] } {
  if (font.length < 12) throw new SfntError("file too short for a font");
  const version = u32(font, 0);
  // 0x00010000 TrueType outlines, "OTTO" CFF outlines, "true" (old Apple TrueType).
  if (version !== 0x00010000 && version !== 0x4f54544f && version !== 0x74727565) {
    throw new SfntError(
      version === 0x74746366 ? "font collections (.ttc) are not supported" : "not a TrueType/OpenType font",
    );
  }
  const numTables = u16(font, 4);
  if (numTables === 0 || numTables > 200 || 12 + numTables * 16 > font.length)
    throw new SfntError("bad table directory");
  const tables: TableRecord[] = [];
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + i * 16;
    const tag = font.toString("latin1", rec, rec + 4);
    const offset = u32(font, rec + 8);
    const length = u32(font, rec + 12);
    if (offset > font.length || length > font.length - offset)
      throw new SfntError(`table ${tag} lies outside the file`);
    tables.push({ tag, offset, length });
  }
  return { version, tables };
}

function checksum(data: Buffer): number {
  let sum = 0;
  const padded = data.length % 4 === 0 ? data : Buffer.concat([data, Buffer.alloc(4 - (data.length % 4))]);
  for (let i = 0; i < padded.length; i += 4) sum = (sum + padded.readUInt32BE(i)) >>> 0;
  return sum;
}

/** A `name` table (format 0) with Windows/Unicode English records only. */
function buildNameTable(names: ReadonlyMap<number, string>): Buffer {
  const ids = [...names.keys()].sort((a, b) => a - b);
  const strings = ids.map((id) => {
    const s = names.get(id)!;
    const buf = Buffer.alloc(s.length * 2);
    for (let i = 0; i < s.length; i++) buf.writeUInt16BE(s.charCodeAt(i), i * 2);
    return buf;
  });
  const headerSize = 6 + ids.length * 12;
  const out = Buffer.alloc(headerSize + strings.reduce((n, s) => n + s.length, 0));
  out.writeUInt16BE(0, 0);
  out.writeUInt16BE(ids.length, 2);
  out.writeUInt16BE(headerSize, 4);
  let strOffset = 0;
  ids.forEach((id, i) => {
    const rec = 6 + i * 12;
    out.writeUInt16BE(3, rec); // platform: Windows
    out.writeUInt16BE(1, rec + 2); // encoding: Unicode BMP
    out.writeUInt16BE(0x0409, rec + 4); // language: en-US
    out.writeUInt16BE(id, rec + 6);
    out.writeUInt16BE(strings[i]!.length, rec + 8);
    out.writeUInt16BE(strOffset, rec + 10);
    strings[i]!.copy(out, headerSize + strOffset);
    strOffset += strings[i]!.length;
  });
  return out;
}

/**
 * A copy of `font` whose only family name is `family` (a plain ASCII word, e.g. "TF1a2b3c").
 * `subfamily` is kept as the style name (informational; selection is by family alone).
 */
export function renameFontFamily(font: Buffer, family: string, subfamily = "Regular"): Buffer {
  if (!/^[A-Za-z][A-Za-z0-9]{0,30}$/.test(family)) throw new SfntError("family must be a short ASCII word");
  const style = subfamily.replace(/[^\x20-\x7e]/g, "").slice(0, 60) || "Regular";
  const { version, tables } = readTables(font);
  const name = buildNameTable(
    new Map([
      [1, family],
      [2, style],
      [3, `${family}-${style}`],
      [4, `${family} ${style}`],
      [6, `${family}-${style.replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 63)],
    ]),
  );
  const kept = tables.filter((t) => t.tag !== "name");
  const entries = [
    ...kept.map((t) => ({ tag: t.tag, data: font.subarray(t.offset, t.offset + t.length) })),
    { tag: "name", data: name },
  ];
  entries.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));

  const numTables = entries.length;
  const dirSize = 12 + numTables * 16;
  let total = dirSize;
  for (const e of entries) total += (e.data.length + 3) & ~3;
  const out = Buffer.alloc(total);
  let pow2 = 1;
  let log2 = 0;
  while (pow2 * 2 <= numTables) {
    pow2 *= 2;
    log2++;
  }
  out.writeUInt32BE(version, 0);
  out.writeUInt16BE(numTables, 4);
  out.writeUInt16BE(pow2 * 16, 6);
  out.writeUInt16BE(log2, 8);
  out.writeUInt16BE(numTables * 16 - pow2 * 16, 10);
  let offset = dirSize;
  let headOffset = -1;
  entries.forEach((e, i) => {
    const rec = 12 + i * 16;
    out.write(e.tag, rec, 4, "latin1");
    e.data.copy(out, offset);
    if (e.tag === "head") {
      if (e.data.length < 12) throw new SfntError("bad head table");
      headOffset = offset;
      out.writeUInt32BE(0, offset + 8); // checkSumAdjustment is computed over the whole file below
    }
    out.writeUInt32BE(checksum(out.subarray(offset, offset + e.data.length)), rec + 4);
    out.writeUInt32BE(offset, rec + 8);
    out.writeUInt32BE(e.data.length, rec + 12);
    offset += (e.data.length + 3) & ~3;
  });
  if (headOffset >= 0) out.writeUInt32BE((0xb1b0afba - checksum(out)) >>> 0, headOffset + 8);
  return out;
}
