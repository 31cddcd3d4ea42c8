// The raw renderer's throughput, for the pipeline ratio: test/bench/render.bench.ts's own worker
// (renderTemplate in a loop on the reference card, sharp concurrency 1, image cache as given),
// one thread per core, exactly as `npm run bench:render` measures it. Only the orchestration is
// here; the render loop is render.bench.ts's workerMain (a worker thread runs that file with
// isMainThread false).
import { Worker } from "node:worker_threads";
import type { ImageCacheSettings } from "../../../src/render/index.js";
import type { OutputFormat } from "../../../src/templates/document.js";

const RENDER_BENCH = new URL("../render.bench.ts", import.meta.url).href;

export interface RawResult {
  rendersPerSecond: number;
  renders: number;
  /** CPU ms this process used while the threads rendered (all threads), per render. */
  cpuMsPerRender: number;
}

export async function rawRendersPerSecond(opts: {
  photoUrl: string;
  format: OutputFormat;
  cache: ImageCacheSettings;
  durationMs: number;
  threads: number;
}): Promise<RawResult> {
  const boot = `(async () => {
    const { register } = await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))});
    register();
    await import(${JSON.stringify(RENDER_BENCH)});
  })();`;
  const workerData = { photoUrl: opts.photoUrl, format: opts.format, cache: opts.cache, durationMs: opts.durationMs };
  const threads = Array.from({ length: opts.threads }, () => new Worker(boot, { eval: true, workerData }));
  try {
    const next = (t: Worker) =>
      new Promise<{ ready?: boolean; count?: number }>((resolve, reject) => {
        t.once("message", resolve);
        t.once("error", reject);
      });
    await Promise.all(threads.map(next)); // { ready: true } after its warm-up renders
    const counts = threads.map(next);
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (const t of threads) t.postMessage("go");
    const total = (await Promise.all(counts)).reduce((sum, m) => sum + (m.count ?? 0), 0);
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    return { rendersPerSecond: total / seconds, renders: total, cpuMsPerRender: (user + system) / 1000 / total };
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}
