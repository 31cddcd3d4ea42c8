// What every send_to destination shares: the file it is given, what it answers, the error it
// throws (with whether a retry may help), and the one POST it sends through (src/delivery/outbound.ts).
import { GuardedRequestError, type GuardedResponse } from "../../net/guarded-http.js";
import { parseRetryAfter, postOutbound, retryableStatus, transportRetryable } from "../outbound.js";

export interface DeliveryFile {
  bytes: Buffer;
  contentType: string;
  filename: string;
  jobId: string;
  /** Free-form; gfcrew reads template_id (or templateId), width, height and created_at from it. */
  metadata: Record<string, unknown>;
}

export interface DestinationResult {
  identifiers: Record<string, string>;
}

export interface SendFileOptions {
  /** Default https://content.dropboxapi.com (tests point it at a fake). */
  dropboxContentUrl?: string;
  /** Standard Webhooks secrets for webhook destinations (several while rotating). */
  signingSecrets: string[];
  allowPrivateNetworks: boolean;
  /** Deadline for one request, body included. */
  timeoutMs: number;
  /** webhook-id for webhook destinations. Default `msg_<jobId>_image` (stable across retries of a job). */
  webhookMsgId?: string;
  /** webhook-timestamp (seconds). Default now. */
  timestampSeconds?: number;
}

/** A failed delivery. `message` is meant for people: `dropbox: 401 invalid_access_token`. */
export class DestinationError extends Error {
  override readonly name = "DestinationError";
  /** Network errors, timeouts, 408/429 and 5xx: the same delivery may succeed later. */
  readonly retryable: boolean;
  /** The HTTP status when the destination answered. */
  readonly statusCode?: number;
  /** From Retry-After (seconds or an HTTP date), when the destination sent one. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    opts: { retryable: boolean; statusCode?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryable = opts.retryable;
    if (opts.statusCode !== undefined) this.statusCode = opts.statusCode;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isDestinationError(err: unknown): err is DestinationError {
  return err instanceof DestinationError;
}

/**
 * One POST to a destination. A refusal or transport failure becomes a DestinationError
 * `<label>: <reason>`; any HTTP status is returned for the destination to judge.
 */
export async function post(
  label: string,
  url: string,
  req: { headers: Record<string, string>; body: Buffer | string },
  opts: Pick<SendFileOptions, "allowPrivateNetworks" | "timeoutMs">,
): Promise<GuardedResponse> {
  try {
    return await postOutbound(url, {
      ...req,
      timeoutMs: opts.timeoutMs,
      allowPrivateNetworks: opts.allowPrivateNetworks,
    });
  } catch (err) {
    if (err instanceof GuardedRequestError) {
      throw new DestinationError(`${label}: ${err.reason}`, {
        retryable: transportRetryable(err),
        statusCode: err.status,
        cause: err,
      });
    }
    throw new DestinationError(`${label}: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}

/** A non-2xx answer: retryable as its status says, with the destination's Retry-After. */
export function httpFailure(label: string, res: GuardedResponse, detail: string): DestinationError {
  return new DestinationError(`${label}: ${detail}`, {
    retryable: retryableStatus(res.status),
    statusCode: res.status,
    retryAfterMs: parseRetryAfter(res.headers["retry-after"]),
  });
}

/** A header value that is printable ASCII as is, percent-encoded (UTF-8) otherwise. */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** A response body as JSON, or undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
