// Background removal benchmark (plain tsx script, not vitest):
//   npm run bench:cutout [-- --threads=1 --runs=5 --json]
//
// With the shipped model (models/u2netp.onnx) on the CPU, one removal at a time:
//  - model load: the first removal's session creation (onnxruntime reads and optimises the graph);
//  - per photo, cold (first call for those bytes: decode, model, mask, PNG encode) and cached
//    (the same bytes again), for the astronaut fixture (512x512) and two larger versions of it
//    (1000x700 and 2000x1500 JPEGs), each cold figure the median over --runs distinct encodings
//    (distinct bytes, so none comes from the cache);
//  - peak RSS of the process (process.resourceUsage().maxRSS), which includes sharp's and
//    onnxruntime's native memory.
// With --json the last line printed is one JSON object with all figures.
import { readFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import {
  backgroundRemovalStats,
  configureBackgroundRemoval,
  loadBackgroundRemovalModel,
  removeBackground,
} from "../../src/render/background-removal.js";

const args = new Map(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith("--"))
    .map((a) => {
      const [k, v] = a.slice(2).split("=");
      return [k!, v ?? "true"] as const;
    }),
);
const threads = Number(args.get("threads") ?? 1);
const runs = Number(args.get("runs") ?? 5);
const json = args.has("json");

const fixture = readFileSync(path.join(import.meta.dirname, "..", "fixtures", "astronaut.jpg"));
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (ms: number) => Math.round(ms * 10) / 10;

/** `runs` distinct JPEG encodings of the fixture at width x height (quality 90, 89, ...). */
async function versions(width: number, height: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < runs; i++) {
    out.push(
      await sharp(fixture)
        .resize(width, height, { fit: "cover" })
        .jpeg({ quality: 90 - i })
        .toBuffer(),
    );
  }
  return out;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

configureBackgroundRemoval({ threads, concurrency: 1 });
const rssBefore = rssMb();
const loadMs = await timed(() => loadBackgroundRemovalModel());
const rssAfterLoad = rssMb();

const photos: Array<[string, Buffer[]]> = [
  ["astronaut 512x512", [fixture, ...(await versions(512, 512)).slice(1)]],
  ["1000x700", await versions(1000, 700)],
  ["2000x1500", await versions(2000, 1500)],
];
const results: Record<string, { coldMs: number; cachedMs: number; cutoutKB: number; peakRssMb: number }> = {};
for (const [name, encodings] of photos) {
  const cold: number[] = [];
  const cached: number[] = [];
  let size = 0;
  for (const bytes of encodings) {
    cold.push(await timed(async () => (size = (await removeBackground(bytes)).length)));
    cached.push(await timed(() => removeBackground(bytes)));
  }
  results[name] = {
    coldMs: round(median(cold)),
    cachedMs: round(median(cached)),
    cutoutKB: Math.round(size / 1024),
    peakRssMb: rssMb(), // (peak so far: sizes run smallest first)
  };
}

const stats = backgroundRemovalStats();
const figures = {
  threads,
  runs,
  modelLoadMs: round(loadMs),
  photos: results,
  modelRuns: stats.modelRuns,
  cacheHits: stats.cacheHits,
  peakRssMb: rssMb(),
  rssBeforeLoadMb: rssBefore,
  rssAfterLoadMb: rssAfterLoad,
};
console.log(`background removal, ${threads} onnxruntime thread(s), median of ${runs} runs per size`);
console.log(`  model load              ${figures.modelLoadMs} ms (peak RSS ${rssBefore} -> ${rssAfterLoad} MB)`);
for (const [name, r] of Object.entries(results)) {
  console.log(
    `  ${name.padEnd(22)}  cold ${String(r.coldMs).padStart(7)} ms   cached ${String(r.cachedMs).padStart(5)} ms   cut-out ${r.cutoutKB} KB   peak RSS so far ${r.peakRssMb} MB`,
  );
}
console.log(
  `  peak RSS                ${figures.peakRssMb} MB (model runs ${stats.modelRuns}, cache hits ${stats.cacheHits})`,
);
if (json) console.log(JSON.stringify(figures));
