// Once per `npm test`: a fresh PostgreSQL database with the migrations applied, dropped after.
// Test files share it (each works in its own organisations and queue prefix).
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migratePostgres } from "../../src/db/migrations.js";
import { checkRedis } from "../../src/redis.js";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export default async function setup(project: TestProject) {
  await checkRedis(REDIS_URL);
  const name = `templified_test_${Date.now()}_${randomBytes(3).toString("hex")}`;
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  try {
    await migratePostgres(databaseUrl, () => {});
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${SERVER_URL} (set TEST_POSTGRES_URL): ${(e as Error).message}`, {
      cause: e,
    });
  }
  project.provide("databaseUrl", databaseUrl);
  project.provide("redisUrl", REDIS_URL);

  return async () => {
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  };
}
