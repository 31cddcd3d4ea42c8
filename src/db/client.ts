// The Prisma client on one of two drivers, same generated client and same migrations:
// - DATABASE_URL set: PostgreSQL through @prisma/adapter-pg (production, tests, several processes).
// - unset: an embedded PGlite database on disk, so a machine with only Node and Redis runs the
//   product. PGlite lives inside one process, so that mode runs API and workers together.
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.js";
import { ensurePrivateDir, narrowTree, notPrivateWarning } from "../storage/private-files.js";
import { applyPending, migratePostgres } from "./migrations.js";
import { pgliteSql, pgSql, type Sql } from "./sql.js";

export type Prisma = PrismaClient;
/** The client inside `prisma.$transaction(async (tx) => ...)`. */
export type Tx = Parameters<Parameters<Prisma["$transaction"]>[0]>[0];
/** Either: for queries that may run alone or as part of a caller's transaction. */
export type Db = Prisma | Tx;
export interface Database {
  prisma: PrismaClient;
  /** Plain SQL on the same connections, for the hot statements (src/db/sql.ts). */
  sql: Sql;
  kind: "postgres" | "pglite";
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  pgliteDir: string;
  migrate: boolean;
  log?: (msg: string) => void;
  /** Connection pool size for adapter-pg. */
  poolSize?: number;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.log ?? (() => {});
  if (opts.databaseUrl) {
    if (opts.migrate) await migratePostgres(opts.databaseUrl, log);
    // One pool for Prisma and for the plain statements.
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      // Fail a query quickly when the server is gone rather than hanging a request.
      connectionTimeoutMillis: 5_000,
    });
    // An idle connection the server dropped (a restart): the pool replaces it; nothing to crash over.
    pool.on("error", () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    return {
      prisma,
      sql: pgSql(pool),
      kind: "postgres",
      ping: async () => {
        await prisma.$queryRaw`SELECT 1`;
      },
      close: async () => {
        await prisma.$disconnect();
        if (!pool.ending) await pool.end();
      },
    };
  }

  // The database files are the service user's alone: the directory is 0700 (narrowed if an older
  // version created it wider), which keeps others out whatever the modes of the files in it.
  const privateDir = await ensurePrivateDir(opts.pgliteDir);
  if (!privateDir) log(notPrivateWarning(opts.pgliteDir));
  // Loaded only in embedded mode: a process on PostgreSQL never holds PGlite's code.
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
  ]);
  const pglite = new PGlite(opts.pgliteDir);
  await pglite.waitReady;
  // PGlite creates its files 0666 whatever the umask: narrow them to 0600 now and again on close
  // (so that a copy of the directory stays private too).
  if (privateDir) await narrowTree(opts.pgliteDir);
  if (opts.migrate) {
    await applyPending(
      { query: async (sql, params) => (await pglite.query(sql, params)).rows, exec: (sql) => pglite.exec(sql) },
      { log },
    );
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    prisma,
    sql: pgliteSql(pglite),
    kind: "pglite",
    ping: async () => {
      await prisma.$queryRaw`SELECT 1`;
    },
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
      if (privateDir) await narrowTree(opts.pgliteDir);
    },
  };
}
