// Telling "the database is away" apart from every other error: requests answer 503 (retry
// shortly) instead of 500, and workers wait for it instead of spending a job's attempts.
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "P1001", // can't reach database server
  "P1002", // timed out
  "P1017", // server closed the connection
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up / shutting down)
  "08000",
  "08001",
  "08003",
  "08006", // connection failures
]);

const UNAVAILABLE_MESSAGES =
  /Connection terminated|Can't reach database|connect ECONNREFUSED|Client has encountered a connection error|the database system is (starting up|shutting down)|timeout exceeded when trying to connect/i;

// Errors about a user-given URL (an image host, a destination): a refused connection there says
// nothing about the database, however alike the codes look.
const OUTBOUND_ERRORS = new Set(["RenderError", "GuardedRequestError", "DestinationError"]);

/** True when the error (or anything in its cause chain) says PostgreSQL cannot be reached. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const x = e as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; originalCode?: unknown };
    if (typeof x.name === "string" && OUTBOUND_ERRORS.has(x.name)) return false;
    if (typeof x.code === "string" && UNAVAILABLE_CODES.has(x.code)) return true;
    if (typeof x.originalCode === "string" && UNAVAILABLE_CODES.has(x.originalCode)) return true;
    if (typeof x.message === "string" && UNAVAILABLE_MESSAGES.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}
