// Run as a child process by test/background-removal.test.ts (node --import tsx): starts a removal
// (a cold one: engine thread, model load, run) and calls process.exit(7) after argv[2] ms, while
// the engine thread is inside onnxruntime. Prints how many removals were running when it exited.
// The parent checks that the process exits with 7, not with an abort (a thread stopped inside
// onnxruntime takes the whole process down with SIGABRT).
import { readFileSync } from "node:fs";
import path from "node:path";
import { backgroundRemovalStats, removeBackground } from "../../src/render/background-removal.js";

const photo = readFileSync(path.join(import.meta.dirname, "..", "fixtures", "astronaut.jpg"));
void removeBackground(photo).catch(() => undefined);
setTimeout(() => {
  process.stdout.write(`running ${backgroundRemovalStats().running}\n`);
  process.exit(7);
}, Number(process.argv[2]));
