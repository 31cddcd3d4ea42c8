// Plain SQL beside Prisma, for the statements a render job runs on every status change and every
// admission: on PostgreSQL they go straight to the pg pool Prisma's adapter uses (same connections,
// same transactions semantics), without Prisma's request pipeline, which cost the render worker
// more CPU than the statements themselves; with the embedded database, straight to PGlite.
//
// Rows come back as objects under the names the statement gives its columns, with jsonb parsed,
// timestamptz as Date and int4 as number (as Prisma's raw queries return them): give int8 and
// numeric results a cast (`count(*)::int`).
import type { Db } from "./client.js";

export interface SqlQuery {
  /**
   * One statement with $1, $2, … parameters (cast them in the SQL: `$2::int`); its rows. A `name`
   * makes it a prepared statement on PostgreSQL, parsed and planned once per connection: give it
   * to the hot statements, one name per text.
   */
  query<R>(text: string, params?: readonly unknown[], name?: string): Promise<R[]>;
}

export interface Sql extends SqlQuery {
  /**
   * Several statements sent as one message (one round trip) and run as ONE transaction, each
   * statement with a fresh snapshot (PostgreSQL's simple query protocol): the rows of each, in
   * order. No parameters: values go in as `literal(...)`s.
   */
  script(text: string): Promise<unknown[][]>;
}

/** A string as an SQL literal (standard_conforming_strings, the default since PostgreSQL 9.1). */
export function literal(value: string): string {
  if (value.includes("\0")) throw new Error("an SQL literal cannot hold a NUL character");
  return `'${value.replaceAll("'", "''")}'`;
}

/** An integer as an SQL literal. */
export function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
  return String(value);
}

/** The same statements through Prisma: inside one of its transactions, say. */
export const sqlOver = (db: Db): SqlQuery => ({
  query: <R>(text: string, params: readonly unknown[] = []) => db.$queryRawUnsafe<R[]>(text, ...params),
});

interface PgResult {
  rows: unknown[];
}

/** Over a pg Pool (or anything with its `query`). */
export function pgSql(pool: {
  query(config: string | { text: string; values: unknown[]; name?: string }): Promise<unknown>;
}): Sql {
  return {
    async query<R>(text: string, params: readonly unknown[] = [], name?: string) {
      const config = { text, values: params as unknown[], ...(name ? { name } : {}) };
      return ((await pool.query(config)) as PgResult).rows as R[];
    },
    async script(text: string) {
      // One result per statement when there are several.
      const results = (await pool.query(text)) as PgResult | PgResult[];
      return Array.isArray(results) ? results.map((r) => r.rows) : [results.rows];
    },
  };
}

/** Over PGlite, whose query and exec never run inside another caller's transaction. */
export function pgliteSql(pglite: {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(text: string): Promise<{ rows: unknown[] }[]>;
}): Sql {
  return {
    async query<R>(text: string, params: readonly unknown[] = []) {
      return (await pglite.query<R>(text, params as unknown[])).rows;
    },
    async script(text: string) {
      // exec runs the statements as one transaction, as PostgreSQL's simple query does.
      return (await pglite.exec(text)).map((r) => r.rows);
    },
  };
}
