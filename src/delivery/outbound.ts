// The requests delivery sends (send_to destinations and webhook events) and how their answers are
// judged. Every one is a POST through the guarded client (src/net/guarded-http.ts): public
// addresses only unless allowPrivateNetworks, the checked address is the one connected to, and no
// redirect is followed, since a 3xx would send the image or event to a place nobody checked; it
// counts as a failed delivery.
import { performance } from "node:perf_hooks";
import { guardedRequest, GuardedRequestError, type GuardedResponse } from "../net/guarded-http.js";

const USER_AGENT = "Templified-Delivery/0.1 (+https://github.com/templified)";
/** Receivers answer with small JSON documents at most; more is not read. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface OutboundPost {
  headers: Record<string, string>;
  body: Buffer | string;
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  allowPrivateNetworks: boolean;
}

/**
 * One POST. Resolves with any HTTP status for the caller to judge; a 2xx whose body was over the
 * read limit still counts as received (resolved with an empty body). Refusals and transport
 * failures throw GuardedRequestError.
 */
export async function postOutbound(url: string, req: OutboundPost): Promise<GuardedResponse> {
  const started = performance.now();
  try {
    return await guardedRequest(url, {
      method: "POST",
      headers: { "user-agent": USER_AGENT, ...req.headers },
      body: req.body,
      timeoutMs: req.timeoutMs,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      allowPrivateNetworks: req.allowPrivateNetworks,
      maxRedirects: 0,
    });
  } catch (err) {
    if (
      err instanceof GuardedRequestError &&
      err.kind === "too_large" &&
      err.status !== undefined &&
      isSuccess(err.status)
    ) {
      return {
        status: err.status,
        headers: {},
        body: Buffer.alloc(0),
        durationMs: Math.round(performance.now() - started),
        finalUrl: url,
        redirects: 0,
      };
    }
    throw err;
  }
}

export const isSuccess = (status: number) => status >= 200 && status <= 299;

/** A failure on the way (network, timeout, abort) may pass; a refused address or URL will not. */
export const transportRetryable = (err: GuardedRequestError) =>
  err.kind === "network" || err.kind === "timeout" || err.kind === "aborted";

/** 408, 429 and 5xx may succeed later; other statuses will not. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; undefined when absent or invalid. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "1.5", "-3": not a date either
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Appended to a 3xx failure, so nobody hunts for why the redirect was not followed. */
export function redirectNote(status: number): string {
  return status >= 300 && status <= 399 ? " (redirects are not followed)" : "";
}
