// The typed errors mutations return in their result unions. Each is a domain error class, so a
// resolver simply calls the domain and the errors plugin turns a thrown error into its type.
import { AccountSuspendedError, InsufficientBalanceError } from "../billing/charges.js";
import { IdempotencyConflictError } from "../billing/idempotency.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { builder } from "./builder.js";

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  description: "Every typed error has a human-readable message.",
  fields: (t) => ({ message: t.exposeString("message") }),
});

builder.objectType(InsufficientBalanceError, {
  name: "InsufficientBalanceError",
  description: "The balance cannot pay for the render (REST: 402). Nothing was created.",
  interfaces: [ErrorInterface],
});

builder.objectType(AccountSuspendedError, {
  name: "AccountSuspendedError",
  description: "The organisation is suspended until its payment method is updated (REST: 402).",
  interfaces: [ErrorInterface],
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  description: "The template or job does not exist, or belongs to another organisation (REST: 404).",
  interfaces: [ErrorInterface],
});

builder.objectType(IdempotencyConflictError, {
  name: "IdempotencyConflictError",
  description: "The idempotency key was used with a different request (REST: 422).",
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
  description: "The input is invalid (REST: 400); `fields` names each problem.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fields: t.field({ type: [FieldError], resolve: (err) => err.fields }),
  }),
});

/** The errors every job-creating mutation can answer with. */
export const CREATE_JOB_ERRORS = [InsufficientBalanceError, AccountSuspendedError, ValidationError, NotFoundError, IdempotencyConflictError];
