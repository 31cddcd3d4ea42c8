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
    env: {
      // The S3 tests pass credentials explicitly; should one not, the SDK must not go looking for
      // an EC2 instance role at 169.254.169.254 (tests contact loopback only).
      AWS_EC2_METADATA_DISABLED: "true",
      // client-s3 warns on Node 20 that releases from 2027 will need Node 22: noise in test output.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    // Generous, for a loaded two-core machine: a passing test never comes near them, and every
    // wait inside a test (test/helpers/wait.ts, 30 s) gives up first, saying what it waited for.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    expect: { poll: { timeout: 30_000, interval: 50 } }, // expect.poll's default is 1 s
    // Processes, not worker threads: sharp (libvips) is a native addon that does not survive
    // being loaded in several threads, and tests spawn and signal child processes.
    pool: "forks",
    // A fixed number of test files at once, not one fewer than the CPUs Node sees. Each file runs
    // a whole stack (API, render worker, libvips threads; some a headless Chromium or a fleet of
    // worker processes) beside the shared PostgreSQL and Redis. In a container,
    // os.availableParallelism() can report the host's CPUs rather than the container's share, and
    // that many heavy files at once exhausts memory: the kernel then kills a fork, which vitest
    // reports as "Worker exited unexpectedly". Two keeps a two-core machine busy (one file waits on
    // I/O while the other computes) without oversubscribing it, and is the same on every machine.
    // VITEST_MAX_WORKERS overrides it (e.g. 1 to run strictly one file at a time).
    maxWorkers: 2,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
