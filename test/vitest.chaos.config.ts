// `npm run test:chaos`: the crash and restart tests at full size, one file at a time (they
// restart shared services and kill processes, so nothing else may run beside them).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["test/chaos.test.ts", "test/chaos/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    env: { CHAOS_JOBS: "300", CHAOS_KILLS: "10" },
  },
});
