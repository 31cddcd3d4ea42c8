// Render benchmark (plain tsx script, not vitest):
//   npx tsx test/bench/render.bench.ts [N=200] [--duration=5] [--json] [--out=/tmp/card.png]
//
// The 1200x630 reference card (test/fixtures/social-card.template.json: gradient background,
// 2000x1500 JPEG photo fitted cover into 600x630, auto-fit title, subtitle, rounded badge with a
// label) with the photo served over real HTTP from a local server.
//  1. One thread (libvips concurrency 1, one render at a time): median and p99 ms per render for
//     png, jpeg and webp, with the image cache off (every render fetches and decodes the photo)
//     and on (fetched and decoded once).
//  2. Throughput: one worker thread per core, each rendering in a loop for --duration seconds
//     (sharp concurrency 1 per worker): renders per second, per format and cache mode.
// The title cycles through a few texts (auto-fit picks different sizes), as in a real batch.
// With --json the last line printed is one JSON object with all figures.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import sharp from "sharp";
import {
  configureImageCache,
  configureSharp,
  ENCODER_SETTINGS,
  renderTemplate,
  type ImageCacheSettings,
} from "../../src/render/index.js";
import { TemplateDocument, type OutputFormat } from "../../src/templates/document.js";

const here = import.meta.dirname;
const fixturePath = path.join(here, "../fixtures/social-card.template.json");
const photoPath = path.join(here, "../fixtures/photo.jpg");
const FORMATS: OutputFormat[] = ["jpeg", "png", "webp"];
const MODES: { key: "fresh" | "cached"; label: string; cache: ImageCacheSettings }[] = [
  { key: "fresh", label: "photo fetched + decoded on every render (image cache off)", cache: { ttlMs: 0 } },
  { key: "cached", label: "image cache on (the default): fetched + decoded once", cache: {} },
];
const TITLES = [
  "Turn any template into a sharp social card in milliseconds",
  "Release notes: faster renders, uploaded fonts and gradients",
  "How we render ten thousand cards an hour on two cores",
  "Short title",
];

/** A 2000x1500 photo-like JPEG (gradient + noise, so it compresses like a photo, not a flat colour). */
async function makePhoto(): Promise<Buffer> {
  const w = 2000;
  const h = 1500;
  const raw = Buffer.alloc(w * h * 3);
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 24 - 12;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = Math.max(0, Math.min(255, 240 - (y / h) * 80 + rand()));
      raw[i + 1] = Math.max(0, Math.min(255, 120 + (x / w) * 60 + rand()));
      raw[i + 2] = Math.max(0, Math.min(255, 30 + ((x + y) / (w + h)) * 120 + rand()));
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .blur(1.5)
    .jpeg({ quality: 80 })
    .toBuffer();
}

function cardDocuments(photoUrl: string): TemplateDocument[] {
  const card = JSON.parse(readFileSync(fixturePath, "utf8")) as {
    layers: { name: string; image_url?: string; text?: string }[];
  };
  return TITLES.map((title) =>
    TemplateDocument.parse({
      ...card,
      layers: card.layers.map((l) =>
        l.name === "photo" ? { ...l, image_url: photoUrl } : l.name === "title" ? { ...l, text: title } : l,
      ),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Worker: render in a loop for the given duration, report the count.

interface WorkerJob {
  photoUrl: string;
  format: OutputFormat;
  cache: ImageCacheSettings;
  durationMs: number;
}

async function workerMain(job: WorkerJob) {
  configureSharp({ concurrency: 1 });
  configureImageCache(job.cache);
  const docs = cardDocuments(job.photoUrl);
  const opts = { format: job.format, allowPrivateNetworks: true };
  for (let i = 0; i < 5; i++) await renderTemplate(docs[i % docs.length]!, opts); // warm-up (fonts, code)
  parentPort!.postMessage({ ready: true });
  await new Promise<void>((resolve) => parentPort!.once("message", () => resolve()));
  const end = performance.now() + job.durationMs;
  let count = 0;
  while (performance.now() < end) {
    await renderTemplate(docs[count % docs.length]!, opts);
    count++;
  }
  parentPort!.postMessage({ count });
}

async function throughput(job: Omit<WorkerJob, "format">, format: OutputFormat, workers: number): Promise<number> {
  // Workers run this file too, as TypeScript: register tsx's loader in the worker first.
  const boot = `(async () => {
    const { register } = await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))});
    register();
    await import(${JSON.stringify(import.meta.url)});
  })();`;
  const threads = Array.from(
    { length: workers },
    () => new Worker(boot, { eval: true, workerData: { ...job, format } }),
  );
  const ready = threads.map(
    (t) =>
      new Promise<void>((resolve, reject) => {
        t.once("message", () => resolve());
        t.once("error", reject);
      }),
  );
  await Promise.all(ready);
  const counts = threads.map(
    (t) =>
      new Promise<number>((resolve, reject) => {
        t.once("message", (m: { count: number }) => resolve(m.count));
        t.once("error", reject);
      }),
  );
  const started = performance.now();
  for (const t of threads) t.postMessage("go");
  const total = (await Promise.all(counts)).reduce((a, b) => a + b, 0);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(threads.map((t) => t.terminate()));
  return total / seconds;
}

// ---------------------------------------------------------------------------------------------
// Main

interface Timing {
  median: number;
  p99: number;
  kib: number;
}

async function singleThread(
  docs: TemplateDocument[],
  format: OutputFormat,
  n: number,
): Promise<{ timing: Timing; last: Buffer }> {
  const opts = { format, allowPrivateNetworks: true };
  let last = (await renderTemplate(docs[0]!, opts)).buffer;
  for (let i = 0; i < 10; i++) await renderTemplate(docs[i % docs.length]!, opts); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    last = (await renderTemplate(docs[i % docs.length]!, opts)).buffer;
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { timing: { median: round(q(0.5)), p99: round(q(0.99)), kib: Math.round(last.length / 1024) }, last };
}

async function main() {
  const args = process.argv.slice(2);
  const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 200);
  const durationMs = Number(args.find((a) => a.startsWith("--duration="))?.slice("--duration=".length) ?? 5) * 1000;
  const json = args.includes("--json");
  const outArg = args.find((a) => a.startsWith("--out="))?.slice("--out=".length);
  const log = (line: string) => console.log(line);

  const photo = existsSync(photoPath) ? readFileSync(photoPath) : await makePhoto();
  if (!existsSync(photoPath) && photo.length < 300 * 1024) writeFileSync(photoPath, photo);
  const server = createServer((req, res) => {
    if (req.url === "/photo.jpg")
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const photoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/photo.jpg`;
  const docs = cardDocuments(photoUrl);
  const workers = os.availableParallelism();

  configureSharp({ concurrency: 1 });
  const meta = await sharp(photo).metadata();
  log(
    `sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} x ${workers}; ` +
      `photo ${Math.round(photo.length / 1024)} KiB ${meta.width}x${meta.height}; N=${n}`,
  );
  log(`encoders: ${JSON.stringify(ENCODER_SETTINGS)}, quality 85`);
  const results = {
    machine: {
      node: process.version,
      sharp: sharp.versions.sharp,
      vips: sharp.versions.vips,
      cpus: workers,
      cpu: os.cpus()[0]?.model ?? "",
    },
    encoders: ENCODER_SETTINGS,
    singleThread: {} as Record<string, Record<string, Timing>>,
    throughput: {
      workers,
      durationS: durationMs / 1000,
      rendersPerSecond: {} as Record<string, Record<string, number>>,
    },
  };

  log("\n== one thread (sharp concurrency 1), ms per render");
  for (const mode of MODES) {
    configureImageCache(mode.cache);
    log(`-- ${mode.label}`);
    results.singleThread[mode.key] = {};
    for (const format of FORMATS) {
      const { timing, last } = await singleThread(docs, format, n);
      results.singleThread[mode.key]![format] = timing;
      log(
        `${format.padEnd(5)} median ${timing.median.toFixed(1).padStart(5)} ms   p99 ${timing.p99.toFixed(1).padStart(5)} ms   (${timing.kib} KiB)`,
      );
      if (outArg && format === "png" && mode.key === "cached") writeFileSync(outArg, last);
    }
  }

  log(
    `\n== throughput: ${workers} worker threads (one per core), sharp concurrency 1 each, ${durationMs / 1000} s per figure`,
  );
  for (const mode of MODES) {
    results.throughput.rendersPerSecond[mode.key] = {};
    const line: string[] = [];
    for (const format of FORMATS) {
      const rps =
        Math.round((await throughput({ photoUrl, cache: mode.cache, durationMs }, format, workers)) * 10) / 10;
      results.throughput.rendersPerSecond[mode.key]![format] = rps;
      line.push(`${format} ${rps.toFixed(1)}/s`);
    }
    log(`${mode.key.padEnd(6)} ${line.join("   ")}`);
  }
  server.close();
  if (json) console.log(JSON.stringify(results));
}

if (isMainThread) await main();
else await workerMain(workerData as WorkerJob);
