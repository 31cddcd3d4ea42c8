// The typed errors mutations return in their result unions. Each is a domain error class, so a
// resolver simply calls the domain and the errors plugin turns a thrown error into its type. The
// REST status each description names comes from the one error table (src/error-answers.ts).
import { AccountSuspendedError, InsufficientBalanceError } from "../../billing/errors.js";
import { IdempotencyConflictError } from "../../billing/idempotency.js";
import { errorAnswerFor } from "../../error-answers.js";
import { NotFoundError, ValidationError } from "../../errors.js";
import { builder } from "../builder.js";

const rest = (errorClass: Parameters<typeof errorAnswerFor>[0]) => `REST: ${errorAnswerFor(errorClass).httpStatus}`;

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  description: "Every typed error has a human-readable message.",
  fields: (t) => ({ message: t.exposeString("message") }),
});

// Both 402s have the contract's one message, "Insufficient balance"; `reason` is the REST body's
// field of the same name, so a client reads the cause the same way from either API.

builder.objectType(InsufficientBalanceError, {
  name: "InsufficientBalanceError",
  description: `The balance cannot pay for the render (${rest(InsufficientBalanceError)}). Nothing was created.`,
  interfaces: [ErrorInterface],
  fields: (t) => ({
    reason: t.exposeString("reason", {
      description: 'Always "insufficient_balance" (REST: the 402 body\'s `reason`).',
    }),
  }),
});

builder.objectType(AccountSuspendedError, {
  name: "AccountSuspendedError",
  description: `The organisation is suspended until its payment method is updated (${rest(AccountSuspendedError)}). Nothing was created.`,
  interfaces: [ErrorInterface],
  fields: (t) => ({
    reason: t.exposeString("reason", { description: 'Always "suspended" (REST: the 402 body\'s `reason`).' }),
  }),
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  description: `The template or job does not exist, or belongs to another organisation (${rest(NotFoundError)}).`,
  interfaces: [ErrorInterface],
});

builder.objectType(IdempotencyConflictError, {
  name: "IdempotencyConflictError",
  description: `The idempotency key was used with a different request (${rest(IdempotencyConflictError)}).`,
  interfaces: [ErrorInterface],
});

const FieldError = builder.objectRef<{ path: string; message: string }>("FieldError").implement({
  fields: (t) => ({
    path: t.exposeString("path", { description: "Where in the input, e.g. input.modifications[0].text" }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  description: `The input is invalid (${rest(ValidationError)}); \`fields\` names each problem.`,
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fields: t.field({ type: [FieldError], resolve: (err) => err.fields }),
  }),
});

/** The errors every job-creating mutation can answer with. */
export const CREATE_JOB_ERRORS = [
  InsufficientBalanceError,
  AccountSuspendedError,
  ValidationError,
  NotFoundError,
  IdempotencyConflictError,
];
