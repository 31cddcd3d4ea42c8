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
   * order. No parameters: values go in as `literal(...)`s. The `prepared` statements the script
   * runs (`execute(...)`) are prepared first on the connection that runs it, once per connection.
   */
  script(text: string, prepared?: readonly PreparedStatement[]): Promise<unknown[][]>;
}

/**
 * A statement PostgreSQL parses and plans once per connection (PREPARE), that scripts run as
 * `execute(statement, literal, …)`. The simple query protocol of a script plans every statement
 * every time: for the admission statement that was ~200 µs of the server's CPU, against ~70 µs
 * for the whole prepared statement.
 */
export interface PreparedStatement {
  /** Unique per text. */
  name: string;
  /** The parameters' types, for $1, $2, … */
  types: readonly string[];
  text: string;
}

/** One statement of a script, and the prepared statement it runs if it runs one. */
export interface ScriptStatement {
  text: string;
  prepared?: PreparedStatement;
}

/** A script statement that runs a prepared statement with these values (literals). */
export const execute = (statement: PreparedStatement, ...values: string[]): ScriptStatement => ({
  text: `EXECUTE ${statement.name}(${values.join(", ")})`,
  prepared: statement,
});

const prepareSql = (p: PreparedStatement) => `PREPARE ${p.name} (${p.types.join(", ")}) AS ${p.text}`;

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

interface PgClient {
  query(config: string | { text: string; values: unknown[]; name?: string }): Promise<unknown>;
  release(err?: Error | boolean): void;
  on(event: "error", listener: (err: Error) => void): unknown;
  removeListener(event: "error", listener: (err: Error) => void): unknown;
}

/** Over a pg Pool. */
export function pgSql(pool: {
  query(config: string | { text: string; values: unknown[]; name?: string }): Promise<unknown>;
  connect(): Promise<PgClient>;
}): Sql {
  /** Per connection, the statements prepared on it (a new connection prepares them again). */
  const preparedOn = new WeakMap<PgClient, Set<string>>();
  return {
    async query<R>(text: string, params: readonly unknown[] = [], name?: string) {
      const config = { text, values: params as unknown[], ...(name ? { name } : {}) };
      return ((await pool.query(config)) as PgResult).rows as R[];
    },
    async script(text: string, prepared: readonly PreparedStatement[] = []) {
      const client = await pool.connect();
      // A checked-out connection the server drops (a restart: "terminating connection due to
      // administrator command") emits 'error', even between our queries; the pool listens only to
      // idle ones, so without this listener it is an uncaught exception that ends the process. The
      // query in flight fails with the same error, and the connection is released broken below.
      let dropped: Error | undefined;
      const onError = (err: Error) => (dropped = err);
      client.on("error", onError);
      try {
        let done = preparedOn.get(client);
        if (!done) preparedOn.set(client, (done = new Set()));
        for (const p of prepared) {
          if (done.has(p.name)) continue;
          await client.query(prepareSql(p));
          done.add(p.name);
        }
        // One result per statement when there are several.
        const results = (await client.query(text)) as PgResult | PgResult[];
        client.removeListener("error", onError);
        client.release(dropped ?? false);
        return Array.isArray(results) ? results.map((r) => r.rows) : [results.rows];
      } catch (err) {
        client.removeListener("error", onError);
        client.release(err as Error); // as pool.query does: the connection is dropped, its statements with it
        throw err;
      }
    },
  };
}

/** Over PGlite, whose query and exec never run inside another caller's transaction. */
export function pgliteSql(pglite: {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(text: string): Promise<{ rows: unknown[] }[]>;
}): Sql {
  /** Its one session's prepared statements. */
  const preparing = new Map<string, Promise<unknown>>();
  return {
    async query<R>(text: string, params: readonly unknown[] = []) {
      return (await pglite.query<R>(text, params as unknown[])).rows;
    },
    async script(text: string, prepared: readonly PreparedStatement[] = []) {
      for (const p of prepared) {
        let ready = preparing.get(p.name);
        if (!ready) {
          ready = pglite.exec(prepareSql(p));
          preparing.set(p.name, ready);
          ready.catch(() => preparing.delete(p.name)); // to be tried again
        }
        await ready;
      }
      // exec runs the statements as one transaction, as PostgreSQL's simple query does.
      return (await pglite.exec(text)).map((r) => r.rows);
    },
  };
}
