// The SVG rasteriser process (started by src/render/svg.ts; plain JavaScript so it starts without
// a TypeScript loader). librsvg's work on an SVG is not bounded by its size: filter chains can keep
// one libvips tile busy for minutes, out of reach of sharp's timeout (checked between tiles), and a
// thread cannot be stopped. So untrusted SVG is parsed and drawn only here, and the parent kills
// this process when the render's budget runs out.
//
// Protocol (IPC, advanced serialisation), one image per process:
//   parent -> { op: "meta", svg }                 child -> { op: "meta", format, width, height }
//   parent -> { op: "render", plan, maxPixels, timeoutSeconds }
//                                                 child -> { op: "raster", data, width, height, channels, depth }
// A failure answers { error: message }.
import sharp from "sharp";

sharp.cache(false);
sharp.concurrency(1);

/** @type {Buffer | undefined} */
let svg;

const asBuffer = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

async function handle(msg) {
  if (msg.op === "meta") {
    svg = asBuffer(msg.svg);
    const meta = await sharp(svg, { limitInputPixels: false }).metadata();
    return { op: "meta", format: meta.format, width: meta.width, height: meta.height };
  }
  if (msg.op === "render" && svg) {
    const { resize, extract } = msg.plan;
    const { data, info } = await sharp(svg, { limitInputPixels: msg.maxPixels, failOn: "error" })
      .timeout({ seconds: msg.timeoutSeconds })
      .resize(resize.width, resize.height, { fit: resize.fit, background: { r: 0, g: 0, b: 0, alpha: 0 } })
      .extract(extract)
      .ensureAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { op: "raster", data, width: info.width, height: info.height, channels: info.channels, depth: info.depth };
  }
  throw new Error(`unexpected request ${String(msg?.op)}`);
}

process.on("message", (msg) => {
  handle(msg).then(
    (reply) => process.send(reply),
    (err) => process.send({ error: err instanceof Error ? err.message : String(err) }),
  );
});
// The parent went away (or is done with us).
process.on("disconnect", () => process.exit(0));
