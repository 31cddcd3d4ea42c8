export {
  renderTemplate,
  configureSharp,
  configureImageCache,
  contentTypeFor,
  parseHexColor,
  escapePangoMarkup,
  MAX_IMAGE_PIXELS,
  type RenderOptions,
  type RenderResult,
  type SharpSettings,
  type ImageCacheSettings,
} from "./renderer.js";
export { RenderError, isRenderError, RENDER_ERROR_CODES, type RenderErrorCode } from "./errors.js";
export {
  fetchImage,
  isPublicAddress,
  displayUrl,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_REDIRECTS,
  type FetchImageOptions,
  type FetchedImage,
} from "./fetch-image.js";
export { FONT_FILES, fontFileFor, pangoFontDescription, type FontFamily, type FontWeight } from "./fonts.js";
