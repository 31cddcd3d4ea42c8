// Applies prisma/migrations with the offline runner (prisma/tools), keeping Prisma's own
// _prisma_migrations bookkeeping so `prisma migrate deploy` accepts the same database.
import pg from "pg";
import { applyPending, type Executor } from "#migrations-runner";

/** Creates the database named in the URL when it does not exist yet (first start). */
async function ensurePostgresDatabase(url: string): Promise<void> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== "3D000") throw e; // 3D000: invalid_catalog_name
  } finally {
    await probe.end().catch(() => {});
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } catch (e) {
    if ((e as { code?: string }).code !== "42P04") throw e; // created concurrently by another process
  } finally {
    await admin.end();
  }
}

export async function migratePostgres(url: string, log: (msg: string) => void): Promise<string[]> {
  await ensurePostgresDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const executor: Executor = {
      query: async (sql, params) => (await client.query(sql, params)).rows as unknown[],
      exec: (sql) => client.query(sql),
    };
    return await applyPending(executor, { log });
  } finally {
    await client.end();
  }
}

export { applyPending };
