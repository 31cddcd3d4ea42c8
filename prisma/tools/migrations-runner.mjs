// Applies prisma/migrations/*/migration.sql and keeps Prisma's _prisma_migrations table, so the
// same database is accepted by `prisma migrate deploy|status` wherever the native engine exists.
// Works on anything with query(sql, params) -> rows and exec(script): pg.Client or PGlite.
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const SCHEMA = path.join(ROOT, process.env.PRISMA_SCHEMA ?? "prisma/schema.prisma");
export const MIGRATIONS = path.join(ROOT, process.env.PRISMA_MIGRATIONS ?? "prisma/migrations");

// ---------------------------------------------------------------- local files
export async function localMigrations(dir = MIGRATIONS) {
  if (!existsSync(dir)) return [];
  const dirs = (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const out = [];
  for (const name of dirs) {
    const file = path.join(dir, name, "migration.sql");
    if (!existsSync(file)) continue;
    const sql = await readFile(file, "utf8");
    out.push({ name, sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return out;
}

export async function migrationsList() {
  const lockPath = path.join(MIGRATIONS, "migration_lock.toml");
  return {
    baseDir: MIGRATIONS,
    lockfile: { path: "migration_lock.toml", content: existsSync(lockPath) ? await readFile(lockPath, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: (await localMigrations()).map((m) => ({
      path: m.name,
      migrationFile: { path: "migration.sql", content: { tag: "ok", value: m.sql } },
    })),
  };
}

export const schemaFiles = async () => [{ path: path.relative(ROOT, SCHEMA), content: await readFile(SCHEMA, "utf8") }];

// ---------------------------------------------------------------- database access

// Minimal executor over `pg` or PGlite: query(sql, params) -> rows, exec(multiStatementSql)
export async function openExecutor(url) {
  if (url.startsWith("pglite:")) {
    const { PGlite } = await import("@electric-sql/pglite");
    const dir = url.slice("pglite:".length);
    const db = new PGlite(dir === "memory" ? undefined : dir);
    await db.waitReady;
    return {
      query: async (sql, params) => (await db.query(sql, params)).rows,
      exec: (sql) => db.exec(sql),
      close: () => db.close(),
    };
  }
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    query: async (sql, params) => (await client.query(sql, params)).rows,
    exec: (sql) => client.query(sql), // simple-query protocol: runs every statement in the script
    close: () => client.end(),
  };
}

// Same table the schema engine creates (checked against engine-created tables).
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"            VARCHAR(64) NOT NULL,
    "finished_at"         TIMESTAMPTZ,
    "migration_name"      VARCHAR(255) NOT NULL,
    "logs"                TEXT,
    "rolled_back_at"      TIMESTAMPTZ,
    "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export async function applyPending(db, { log = console.log, dir = MIGRATIONS } = {}) {
  await db.query("SELECT pg_advisory_lock(72707369)"); // the lock key Prisma Migrate uses
  try {
    await db.query(MIGRATIONS_TABLE);
    const rows = await db.query(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const failed = rows.filter((r) => !r.finished_at && !r.rolled_back_at);
    if (failed.length) {
      throw new Error(
        `P3009: failed migrations in the target database: ${failed.map((r) => r.migration_name).join(", ")}. ` +
          `Fix the database, then mark them rolled back (UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = ...).`,
      );
    }
    const applied = new Map(
      rows.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => [r.migration_name, r.checksum]),
    );
    const local = await localMigrations(dir);
    for (const m of local) {
      if (applied.has(m.name) && applied.get(m.name) !== m.checksum)
        console.warn(`warning: ${m.name} was edited after it was applied`);
    }
    const pending = local.filter((m) => !applied.has(m.name));
    log(`${local.length} migrations found, ${pending.length} pending`);
    for (const m of pending) {
      const id = randomUUID();
      await db.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
        [id, m.checksum, m.name],
      );
      try {
        await db.exec(m.sql); // like Prisma: the script as written, no implicit transaction
      } catch (e) {
        await db.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, String(e?.stack ?? e)]);
        throw new Error(`migration ${m.name} failed: ${e?.message ?? e}`);
      }
      await db.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [
        id,
      ]);
      log(`applied ${m.name}`);
    }
    return pending.map((m) => m.name);
  } finally {
    await db.query("SELECT pg_advisory_unlock(72707369)");
  }
}
