// When webhook events are retried (WEBHOOK_RETRY_SCHEDULE): spread over about a day, so a
// receiver that is down for hours still gets its events; a Retry-After from the receiver wins when
// it asks for longer (src/workers/deliver-worker.ts).

/** Delay before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([
  0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
]);

/**
 * The delays (ms) before each delivery attempt. Unset or blank: DEFAULT_RETRY_SCHEDULE. Otherwise
 * a comma-separated list of non-negative whole milliseconds, e.g. "0,1000,60000".
 */
export function parseRetrySchedule(value: string | undefined): number[] {
  if (value === undefined || value.trim() === "") return [...DEFAULT_RETRY_SCHEDULE];
  const parts = value.split(",").map((p) => p.trim());
  const bad = parts.find((p) => !/^\d{1,10}$/.test(p));
  if (bad !== undefined) {
    throw new Error(
      `invalid retry schedule "${value}": ${bad === "" ? "empty entry" : `"${bad}" is not a whole number of milliseconds`}; expected comma-separated milliseconds, e.g. "0,5000,300000"`,
    );
  }
  return parts.map(Number);
}
