// What an image layer or background draws from: the downloaded bytes, or — for an image layer
// with remove_background — their cut-out (the same picture as a PNG whose alpha is the subject's
// mask), made before anything else so that fit, crop and radius apply to it like to any image
// with transparency. Getting a source is I/O for the render worker: it runs in the job's I/O
// stage (prefetchImages), so a job waiting for the background-removal engine holds no CPU slot.
// Kept apart from images.ts, which the engine itself uses (header rules), so that neither module
// needs the other in a loop.
import { cutOut } from "./cutouts.js";
import { RenderError } from "./errors.js";
import { displayUrl } from "./fetch-image.js";
import { fetchSource, rasterHeader, type ImageFetchContext, type ImageSource } from "./images.js";
import { svgKind } from "./svg.js";

/** An image a render draws: where from, how errors name it, and whether its background goes. */
export interface ImageToFetch {
  url: string;
  label: string;
  removeBackground?: boolean;
}

/** Tells apart the sources of one render: the same URL with and without its background are two. */
export const imageSourceKey = (image: ImageToFetch): string =>
  image.removeBackground ? `cutout:${image.url}` : image.url;

/**
 * What the layer draws: the downloaded bytes, or (removeBackground) their cut-out. Checked as a
 * raster image within the pixel limits before the model is loaded for them (SVG is refused: it is
 * drawn in a child process, never decoded in the worker, and usually has its own transparency).
 * The engine caches cut-outs by the source's content, so a batch with one photo removes it once.
 */
export async function imageSource(image: ImageToFetch, ctx: ImageFetchContext): Promise<ImageSource> {
  const source = await fetchSource(image.url, image.label, ctx);
  if (!image.removeBackground) return source;
  const where = `${image.label}: the image at ${displayUrl(image.url)}`;
  if (svgKind(source.data)) {
    throw new RenderError(
      "IMAGE_DECODE_FAILED",
      `${where}: remove_background takes raster images (JPEG, PNG, WebP, ...), not SVG`,
    );
  }
  await rasterHeader(source.data, where);
  const data = await cutOut(source.data, where, {
    signal: ctx.signal,
    deadline: ctx.budget.deadline,
    fairnessKey: ctx.fairnessKey,
  });
  return { data, sourceBytes: source.sourceBytes };
}
