import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Run from the project root: `npm test` (vitest run --config test/vitest.config.ts).
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  resolve: {
    // graphql ships CJS (index.js) and ESM (index.mjs) copies; Node loads the CJS one for Pothos
    // and yoga, so the sources under test must get the same copy, or types "from another realm"
    // break schema printing and error handling.
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // The PostgreSQL restart test stops the shared server: only `npm run test:chaos` runs it.
    exclude: ["test/chaos/**", "node_modules/**"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
