// Prints one plain closing line, "N passed, N failed, N skipped", that CI can read whatever
// the default reporter's colours and layout.
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) counts[test.result().state]++;
      if (mod.state() === "failed" && [...mod.children.allTests()].length === 0) counts.failed++; // a file that failed to load
    }
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
