// How long to wait before asking again after a 429, 502 or 503: the answer's Retry-After (in
// seconds; an HTTP date is accepted too), or `fallbackMs` when it has none that makes sense.

export const RETRY_FALLBACK_MS = 3000;
/** Never sooner than this, even when the server says 0. */
const MIN_RETRY_MS = 250;

export function retryAfterMs(header: string | null, fallbackMs = RETRY_FALLBACK_MS, now = Date.now()): number {
  const value = header?.trim();
  if (!value) return fallbackMs;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.max(MIN_RETRY_MS, Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(MIN_RETRY_MS, date - now) : fallbackMs;
}
