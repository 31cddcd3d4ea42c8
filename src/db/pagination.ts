// Keyset pagination on (created_at, id), newest first: stable while rows are added, and cheap at
// any depth (no OFFSET). The cursor is opaque to clients.
import { z } from "zod";
import { ValidationError } from "../errors.js";

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
export type PageQuery = z.infer<typeof PageQuery>;

export interface Page<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
}

type Keyed = { createdAt: Date; id: string };

/** The cursor that continues after this row. */
export const cursorFor = (row: Keyed) => Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString("base64url");

/** The `where` fragment that starts after the cursor (empty on the first page). */
export function afterCursor(cursor: string | undefined) {
  if (!cursor) return {};
  // Exactly what cursorFor writes: any other date JavaScript parses (year -4714, say) may be one
  // PostgreSQL cannot store, and the query would fail as ours rather than the client's.
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9_]{1,100})$/.exec(
    Buffer.from(cursor, "base64url").toString(),
  );
  const createdAt = new Date(match?.[1] ?? "");
  const id = match?.[2];
  if (!id || Number.isNaN(createdAt.getTime())) throw new ValidationError("invalid cursor", ["cursor"]);
  return { OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] };
}

export const newestFirst = [{ createdAt: "desc" as const }, { id: "desc" as const }];

/** Rows fetched with `take: limit + 1`, cut to a page. */
export function toPage<T extends Keyed>(rows: T[], limit: number): Page<T> {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? cursorFor(data[data.length - 1]!) : null };
}
