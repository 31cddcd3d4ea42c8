// One place that turns any thrown error into the contract's JSON error body and status code.
// Bad input is always a 4xx naming what was wrong; only our own faults are 500s.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { ZodError, type z } from "zod";
import { IdempotencyConflictError } from "../billing/idempotency.js";
import { AccountSuspendedError, formatPath, InsufficientBalanceError, NotFoundError, ValidationError } from "../jobs/errors.js";

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
}

function validationBody(issues: readonly Pick<z.core.$ZodIssue, "path" | "message">[], where: string): ErrorBody {
  const details = issues.map((i) => ({ path: formatPath(i.path) || where, message: i.message }));
  return { error: `Invalid ${where}: ${details.map((d) => `${d.path}: ${d.message}`).join("; ")}`, details };
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof InsufficientBalanceError || err instanceof AccountSuspendedError) return { status: 402, body: { error: err.message } };
  if (err instanceof NotFoundError) return { status: 404, body: { error: err.message } };
  if (err instanceof IdempotencyConflictError) return { status: 422, body: { error: err.message } };
  if (err instanceof ValidationError) {
    return { status: 400, body: { error: `Invalid request: ${err.fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join("; ")}`, details: err.fields } };
  }
  if (err instanceof ZodError) return { status: 400, body: validationBody(err.issues, "request body") };
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: err.message } };
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const where = fe.validationContext === "querystring" ? "query string" : fe.validationContext === "params" ? "path" : "request body";
    return { status: 400, body: validationBody(fe.validation.map((v) => ({ path: v.instancePath.split("/").filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message: v.message ?? "invalid" })), where) };
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
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message } };
  }
  return { status: 500, body: { error: "Internal server error" } };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = toErrorResponse(err);
  if (status >= 500) request.log.error({ err }, "request failed");
  return reply.status(status).send(body);
}
