export {
  renderTemplate,
  configureSharp,
  configureImageCache,
  contentTypeFor,
  parseHexColor,
  escapePangoMarkup,
  scaleDocument,
  MAX_IMAGE_PIXELS,
  MAX_HEIF_PIXELS,
  MAX_OUTPUT_PIXELS,
  MAX_LAYER_PIXELS,
  MAX_RENDER_SOURCE_PIXELS,
  MAX_SVG_BYTES,
  DEFAULT_RENDER_TIMEOUT_MS,
  DEFAULT_QUALITY,
  ENCODER_SETTINGS,
  type RenderOptions,
  type RenderResult,
  type SharpSettings,
  type ImageCacheSettings,
} from "./renderer.js";
export { RenderError, isRenderError, RENDER_ERROR_CODES, type RenderErrorCode } from "./errors.js";
export {
  fetchImage,
  displayUrl,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_REDIRECTS,
  type FetchImageOptions,
  type FetchedImage,
} from "./fetch-image.js";
export {
  FONT_FILES,
  SHIPPED_FONT_FACES,
  FONT_CACHE_DIR,
  fontFileFor,
  selectFontFace,
  loadFontFace,
  pangoFontDescription,
  type FontFaceFile,
  type LoadedFontFace,
  type FontFamily,
  type ShippedFontFamily,
  type FontWeight,
  type FontStyle,
  type UploadedFontFace,
} from "./fonts.js";
export { layoutTextLayer, prepareText } from "./text.js";
export { layoutText, type LayoutInput, type TextLayout } from "./text-layout.js";
export { gradientPixels, type GradientRaster } from "./gradient.js";
export { renameFontFamily, SfntError } from "./sfnt.js";
