// The one error type the renderer throws. `code` is stable and machine-readable; `message` is meant
// for the API caller (it names the layer and says what went wrong, never a stack trace).
export const RENDER_ERROR_CODES = [
  "IMAGE_FETCH_FAILED", // bad/unsupported URL, refused address, DNS/connection failure, timeout, non-2xx, too many redirects
  "IMAGE_TOO_LARGE", // body larger than maxImageBytes, or more pixels than the decode limit
  "IMAGE_DECODE_FAILED", // bytes are not an image sharp can decode
  "RENDER_TIMEOUT", // the render ran out of its time budget (RENDER_TIMEOUT_MS); not retried
  "RENDER_FAILED", // anything else (invalid document, text shaping failure, encoder failure)
] as const;
export type RenderErrorCode = (typeof RENDER_ERROR_CODES)[number];

export class RenderError extends Error {
  override readonly name = "RenderError";
  readonly code: RenderErrorCode;
  /**
   * True when the same render may succeed later (timeout, connection reset/refused, HTTP 5xx/429,
   * unexpected libvips failure). False when it cannot (blocked address, HTTP 404, undecodable or
   * oversized image, invalid document).
   */
  readonly retryable: boolean;

  constructor(code: RenderErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}
