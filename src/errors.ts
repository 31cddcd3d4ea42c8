// The generic errors every layer may throw: something the caller named does not exist, or the
// caller's input is invalid. How each is answered (REST status, GraphQL type and code) is decided
// in one table, src/error-answers.ts; nothing here knows about HTTP.
import type { z } from "zod";

export class NotFoundError extends Error {}

/** `["modifications", 0, "text"]` -> `modifications[0].text` */
export const formatPath = (path: readonly PropertyKey[]) =>
  path.reduce<string>(
    (acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    "",
  );

export interface FieldProblem {
  path: string;
  message: string;
}

export class ValidationError extends Error {
  readonly fields: FieldProblem[];

  constructor(
    message: string,
    readonly path: (string | number)[] = [],
    fields?: FieldProblem[],
  ) {
    super(message);
    this.fields = fields ?? [{ path: formatPath(path), message }];
  }

  /** One error listing every zod issue, paths prefixed with `where` (e.g. "input"). */
  static fromZod(issues: readonly Pick<z.core.$ZodIssue, "path" | "message">[], where?: string): ValidationError {
    const fields = issues.map((i) => ({
      path: formatPath([...(where ? [where] : []), ...i.path]) || (where ?? ""),
      message: i.message,
    }));
    return new ValidationError(fields.map((f) => `${f.path}: ${f.message}`).join("; "), [], fields);
  }
}
