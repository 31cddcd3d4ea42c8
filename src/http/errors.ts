// One place that turns any thrown error into the contract's JSON error body and status code: the
// domain's errors by the table in src/error-answers.ts (shared with GraphQL), then what only HTTP
// has (schema validation, body parsing, HttpError). Bad input is always a 4xx naming what was
// wrong; only our own faults are 500s.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { ZodError, type z } from "zod";
import { RateLimitedError } from "../auth/rate-limiter.js";
import { BalanceRefusedError, type BalanceRefusalReason } from "../billing/errors.js";
import { isDatabaseUnavailable } from "../db/availability.js";
import { errorAnswerOf } from "../error-answers.js";
import { formatPath, ValidationError } from "../errors.js";
import { balanceRefusals } from "../observability/metrics.js";
import { setRateLimitHeaders } from "./rate-limit.js";

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: string;
  details?: { path: string; message: string }[];
  /** 402 only: which refusal the contract's one body stands for. */
  reason?: BalanceRefusalReason;
}

function validationBody(issues: readonly Pick<z.core.$ZodIssue, "path" | "message">[], where: string): ErrorBody {
  const details = issues.map((i) => ({ path: formatPath(i.path) || where, message: i.message }));
  return { error: `Invalid ${where}: ${details.map((d) => `${d.path}: ${d.message}`).join("; ")}`, details };
}

const UNSTORABLE_TEXT =
  "Invalid request: a string contains a character that cannot be stored (NUL \\u0000, or an unpaired UTF-16 surrogate such as \\ud800)";

// PostgreSQL refuses some text that valid JSON can carry: NUL in text columns and parameters
// (22021), \u0000 in jsonb (22P05), and unpaired surrogate escapes in jsonb (22P02, "invalid input
// syntax for type json"). These come from the client's strings, so they are 400s, not 500s.
export function isUnstorableText(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 6; depth++) {
    const x = e as {
      code?: unknown;
      originalCode?: unknown;
      message?: unknown;
      originalMessage?: unknown;
      cause?: unknown;
      meta?: { driverAdapterError?: unknown };
    };
    const code = typeof x.originalCode === "string" ? x.originalCode : x.code;
    const text = x.originalMessage ?? x.message;
    const message = typeof text === "string" ? text : "";
    if (code === "22021" && /0x00/.test(message)) return true;
    if (code === "22P05") return true;
    if (code === "22P02" && /type json/.test(message)) return true;
    e = x.meta?.driverAdapterError ?? x.cause;
  }
  return false;
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  const answer = errorAnswerOf(err);
  if (answer) {
    if (err instanceof BalanceRefusedError) {
      balanceRefusals.inc({ reason: err.reason });
      return { status: answer.httpStatus, body: { error: err.message, reason: err.reason } };
    }
    if (err instanceof ValidationError) {
      return {
        status: answer.httpStatus,
        body: {
          error: `Invalid request: ${err.fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join("; ")}`,
          details: err.fields,
        },
      };
    }
    return { status: answer.httpStatus, body: { error: (err as Error).message } };
  }
  if (err instanceof ZodError) return { status: 400, body: validationBody(err.issues, "request body") };
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: err.message } };
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const where =
      fe.validationContext === "querystring"
        ? "query string"
        : fe.validationContext === "params"
          ? "path"
          : "request body";
    return {
      status: 400,
      body: validationBody(
        fe.validation.map((v) => ({
          path: v.instancePath
            .split("/")
            .filter(Boolean)
            .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
          message: v.message ?? "invalid",
        })),
        where,
      ),
    };
  }
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, body: { error: "Request body is larger than the limit" } };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, body: { error: "Unsupported Content-Type: send application/json" } };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { status: 400, body: { error: "Request body is empty: send a JSON object" } };
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return { status: 400, body: { error: `Malformed JSON body: ${fe.message}` } };
  }
  if (err instanceof SyntaxError) return { status: 400, body: { error: `Malformed JSON body: ${err.message}` } };
  if (isUnstorableText(err)) return { status: 400, body: { error: UNSTORABLE_TEXT } };
  if (isDatabaseUnavailable(err)) return { status: 503, body: { error: "The database is unavailable; retry shortly" } };
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message } };
  }
  return { status: 500, body: { error: "Internal server error" } };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = toErrorResponse(err);
  if (status === 503) void reply.header("retry-after", "2");
  if (err instanceof RateLimitedError) setRateLimitHeaders(reply, err.decision);
  if (status >= 500) request.log.error({ err }, "request failed");
  return reply.status(status).send(body);
}
