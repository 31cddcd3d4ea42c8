// Typed errors: every non-2xx answer becomes a subclass of TemplifiedError, chosen by status (and,
// for 402, by the message), so callers can `instanceof` instead of parsing bodies.
import type { ErrorBody, FieldError } from "./types.js";

/**
 * Base of every error the client throws for an API answer or a failure to reach the API.
 * `status` is the HTTP status (0 when there was no HTTP answer: network failures, timeouts);
 * `body` is the parsed JSON body (or its text when it was not JSON); `message` is its `error`.
 */
export class TemplifiedError extends Error {
  override name = "TemplifiedError";
  readonly status: number;
  readonly body: unknown;

  constructor(message: string, status = 0, body?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.body = body;
  }
}

/** 400: a missing or invalid field; `details` names each problem's JSON path. */
export class ValidationError extends TemplifiedError {
  override name = "ValidationError";
  readonly details: FieldError[];
  constructor(message: string, status: number, body: unknown) {
    super(message, status, body);
    const details = (body as Partial<ErrorBody> | null)?.details;
    this.details = Array.isArray(details) ? details : [];
  }
}

/** 401: no key, a malformed `Authorization` header or an unknown key. */
export class AuthenticationError extends TemplifiedError {
  override name = "AuthenticationError";
}

/** 402 `{"error":"Insufficient balance","reason":"insufficient_balance"}`: the balance cannot pay. Nothing was created. */
export class InsufficientBalanceError extends TemplifiedError {
  override name = "InsufficientBalanceError";
}

/** 402 `{"error":"Insufficient balance","reason":"suspended"}`: the organisation is suspended (update the payment method). Nothing was created. */
export class AccountSuspendedError extends TemplifiedError {
  override name = "AccountSuspendedError";
}

/** 404: an unknown job, template, group, preset or font, or another organisation's. */
export class NotFoundError extends TemplifiedError {
  override name = "NotFoundError";
}

/** 422: the Idempotency-Key was already used with a different request; use a new key. */
export class IdempotencyConflictError extends TemplifiedError {
  override name = "IdempotencyConflictError";
}

/** 429: too many requests for this key; retry after `retryAfterSeconds`. */
export class RateLimitError extends TemplifiedError {
  override name = "RateLimitError";
  /** From `Retry-After` (or `RateLimit-Reset`); at least 1. */
  readonly retryAfterSeconds: number;
  constructor(message: string, status: number, body: unknown, retryAfterSeconds: number) {
    super(message, status, body);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 503: the database or Redis is unavailable; retry after `retryAfterSeconds`. */
export class ServiceUnavailableError extends TemplifiedError {
  override name = "ServiceUnavailableError";
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, status: number, body: unknown, retryAfterSeconds: number | undefined) {
    super(message, status, body);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Any other 5xx: the server (or a proxy in front of it) failed. */
export class ServerError extends TemplifiedError {
  override name = "ServerError";
}

/** Any other 4xx (413 body too large, 415 not JSON, …). */
export class RequestError extends TemplifiedError {
  override name = "RequestError";
}

/** 422 from `preview`: the preview's render failed (e.g. an image that cannot be fetched). */
export class PreviewFailedError extends TemplifiedError {
  override name = "PreviewFailedError";
}

/** The API could not be reached (DNS, refused connection, reset, CORS in browsers). `cause` has the detail. */
export class NetworkError extends TemplifiedError {
  override name = "NetworkError";
}

/** `waitForJob` gave up after `timeoutMs`; the job goes on and can still be polled. */
export class WaitTimeoutError extends TemplifiedError {
  override name = "WaitTimeoutError";
  readonly jobId: string;
  constructor(jobId: string, timeoutMs: number) {
    super(`job ${jobId} was not final after ${timeoutMs} ms`);
    this.jobId = jobId;
  }
}

/** Seconds from a `Retry-After` header: delta-seconds or an HTTP date. */
function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed));
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The typed error for a non-2xx answer. */
export function errorFromResponse(status: number, body: unknown, headers: Headers): TemplifiedError {
  const text = (body as Partial<ErrorBody> | null)?.error;
  const message =
    typeof text === "string" && text
      ? text
      : typeof body === "string" && body.trim()
        ? `HTTP ${status}: ${body.trim().slice(0, 200)}`
        : `HTTP ${status}`;
  switch (status) {
    case 400:
      return new ValidationError(message, status, body);
    case 401:
      return new AuthenticationError(message, status, body);
    case 402:
      // One message for both (the contract's); `reason` tells them apart.
      return (body as Partial<ErrorBody> | null)?.reason === "suspended"
        ? new AccountSuspendedError(message, status, body)
        : new InsufficientBalanceError(message, status, body);
    case 404:
      return new NotFoundError(message, status, body);
    case 422:
      return new IdempotencyConflictError(message, status, body);
    case 429: {
      const seconds =
        parseRetryAfter(headers.get("retry-after")) ?? parseRetryAfter(headers.get("ratelimit-reset")) ?? 1;
      return new RateLimitError(message, status, body, Math.max(1, seconds));
    }
    case 503:
      return new ServiceUnavailableError(message, status, body, parseRetryAfter(headers.get("retry-after")));
  }
  if (status >= 500) return new ServerError(message, status, body);
  return new RequestError(message, status, body);
}
