import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql ships CJS (index.js) and ESM (index.mjs) copies; Node loads the CJS one for Pothos
    // and yoga, so the sources under test must get the same copy, or types "from another realm"
    // break schema printing and error handling.
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
