// `npm run screenshots`: the README's pictures of the Studio editor (test/bench/studio-screenshots.ts),
// taken against a stack on the test database like the tests, but not part of `npm test`.
// (Spread, not mergeConfig: that would add to the suite's `include` rather than replace it.)
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

export default defineConfig({
  ...base,
  test: { ...base.test, include: ["test/bench/studio-screenshots.ts"], reporters: ["default"], maxWorkers: 1 },
});
