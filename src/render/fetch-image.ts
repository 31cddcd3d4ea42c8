// Guarded fetching of user-supplied image URLs (SSRF protection), on top of the shared guarded
// client in src/net/guarded-http.ts, which does the work:
//
// - http/https only; at most `maxRedirects` redirects, each hop re-checked.
// - DNS is resolved there and every address is classified; unless allowPrivateNetworks is set,
//   loopback/private/link-local/CGNAT/multicast/reserved/... addresses are refused (IPv4-mapped and
//   other IPv4-embedding IPv6 forms are unwrapped first). `allowAddresses` lets exact addresses
//   through (an intranet asset server); `lookup` replaces the resolver (its answers are checked too).
// - The socket connects to the address that was checked, so a second (rebinding) DNS answer can
//   never be used. No keep-alive agent either.
// - One deadline for the whole fetch (DNS, connect, redirects, body), a byte cap checked against
//   Content-Length up front and while streaming, and non-2xx is an error (here).
import type { LookupAddress } from "node:dns";
import {
  displayUrl,
  guardedRequest,
  GuardedRequestError,
  REDIRECT_STATUSES,
  type GuardedResponse,
} from "../net/guarded-http.js";
import { RenderError } from "./errors.js";

export { displayUrl } from "../net/guarded-http.js";

export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024;
const DEFAULT_MAX_REDIRECTS = 3;
const USER_AGENT = "Templified-Renderer/0.1 (+https://github.com/templified)";

export interface FetchImageOptions {
  /** Allow loopback/private/link-local/... addresses (tests, self-hosted intranets). Default false. */
  allowPrivateNetworks?: boolean;
  /** Deadline for the whole fetch, redirects and body included. Default 10 000 ms. */
  timeoutMs?: number;
  /** Maximum body size in bytes. Default 20 MiB. */
  maxBytes?: number;
  /** Default 3. */
  maxRedirects?: number;
  /** Prefix for error messages, e.g. `image layer "photo"`. */
  label?: string;
  /** Abort from outside (e.g. another layer already failed). */
  signal?: AbortSignal;
  /**
   * Addresses allowed even though they are not public (exact IPv4/IPv6 literals, e.g. an
   * intranet asset server), when allowPrivateNetworks is off. Every other address stays refused.
   */
  allowAddresses?: readonly string[];
  /** Name resolution (default: the system resolver, all addresses). Every answer is still checked. */
  lookup?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface FetchedImage {
  body: Buffer;
  /** The URL the body came from (after redirects). */
  finalUrl: string;
  contentType: string | undefined;
}

/**
 * Fetch an image URL under the rules above. Throws RenderError with code IMAGE_FETCH_FAILED or
 * IMAGE_TOO_LARGE and a message such as
 * `image layer "photo": could not fetch https://example.com/a.png: HTTP 404`.
 */
export async function fetchImage(url: string, options: FetchImageOptions = {}): Promise<FetchedImage> {
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const prefix = `${options.label ? `${options.label}: ` : ""}could not fetch ${displayUrl(url)}`;

  let response: GuardedResponse;
  try {
    response = await guardedRequest(url, {
      method: "GET",
      headers: { "user-agent": USER_AGENT, accept: "image/*,*/*;q=0.5" },
      timeoutMs: options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
      maxResponseBytes: options.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES,
      allowPrivateNetworks: options.allowPrivateNetworks ?? false,
      maxRedirects,
      ...(options.allowAddresses ? { allowAddresses: options.allowAddresses } : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      readBody: "success", // an error page is not read, only its status reported
    });
  } catch (err) {
    if (err instanceof GuardedRequestError) {
      const code = err.kind === "too_large" ? "IMAGE_TOO_LARGE" : "IMAGE_FETCH_FAILED";
      throw new RenderError(code, `${prefix}: ${err.reason}`, { cause: err, retryable: err.retryable });
    }
    throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const { status } = response;
  // The guarded client returns a redirect it was not allowed to follow.
  if (REDIRECT_STATUSES.has(status) && response.headers.location) {
    throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: more than ${maxRedirects} redirects`);
  }
  if (status < 200 || status > 299) {
    const via = response.redirects > 0 ? ` (from ${displayUrl(response.finalUrl)})` : "";
    const transient = status >= 500 || status === 408 || status === 429;
    throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: HTTP ${status}${via}`, { retryable: transient });
  }
  const contentType = response.headers["content-type"];
  return {
    body: response.body,
    finalUrl: response.finalUrl,
    contentType: typeof contentType === "string" ? contentType : undefined,
  };
}
