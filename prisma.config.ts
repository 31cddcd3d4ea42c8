import path from "node:path";
import { defineConfig } from "prisma/config";

// Offline: the Prisma 7 CLI resolves a native schema engine (normally downloaded from Prisma's
// binary host, which these machines cannot reach) before `generate`, `migrate` and `db`, even
// though `generate` never runs it. Unless a real binary is given, point it at a Node stand-in
// that runs Prisma's own WASM schema engine. Migrations themselves are applied by
// prisma/tools/migrate.mjs (see the README).
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(import.meta.dirname, "prisma/tools/schema-engine-wasm-shim.mjs");

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/templified" },
});
