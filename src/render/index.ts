export {
  renderTemplate,
  imagesToFetch,
  prefetchImages,
  FETCH_AHEAD,
  configureSharp,
  configureImageCache,
  contentTypeFor,
  MAX_RENDER_SOURCE_PIXELS,
  MAX_SVG_BYTES,
  ENCODER_SETTINGS,
  type RenderOptions,
  type RenderResult,
  type ImageCacheSettings,
} from "./renderer.js";
export { RenderError, RENDER_ERROR_CODES } from "./errors.js";
export { configureBackgroundRemoval } from "./cutouts.js";
export { fetchImage } from "./fetch-image.js";
export { fontFileFor, type UploadedFontFace } from "./fonts.js";
export { layoutTextLayer } from "./text.js";
