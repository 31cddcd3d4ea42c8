// Child processes of the end-to-end benchmark: the API and the render workers, started as in
// production (`node dist/src/main.js api`, `node dist/workers/render.js`: the compiled code), with
// their output kept (the last lines are printed if something goes wrong) and a bounded stop.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last lines the process printed (stdout and stderr). */
  tail: string[];
  /** Lines printed in total (pino at LOG_LEVEL=warn: warnings and errors). */
  lines: number;
  exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

const TAIL = 40;

/**
 * Starts `node [...nodeArgs] <script> [...args]` in `cwd` with exactly `env` (plus PATH/HOME); a
 * TypeScript script runs under tsx (`node --import tsx`), a JavaScript one (the build) as it is.
 */
export function startChild(
  name: string,
  cwd: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Child {
  const base: Record<string, string> = {};
  // NODE_OPTIONS and MALLOC_ARENA_MAX pass through, so memory settings can be compared by running the bench with them.
  for (const k of ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "NODE_OPTIONS", "MALLOC_ARENA_MAX"])
    if (process.env[k]) base[k] = process.env[k]!;
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  // Render workers get the heap setting package.json's start scripts give them (see "Memory" in
  // docs/operations.md: without it, long-running workers fall into back-to-back major GCs).
  const heap = /(^|\/)workers\/render\.(ts|js)$/.test(script) ? ["--initial-old-space-size=128"] : [];
  const proc = spawn(process.execPath, [...heap, ...loader, ...nodeArgs, script, ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start`);
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    tail: [],
    lines: 0,
    exitCode: undefined,
    exited: new Promise((resolve) => proc.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null)))),
  };
  void child.exited.then((code) => (child.exitCode = code));
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      child.lines++;
      child.tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (child.tail.length > TAIL) child.tail.shift();
    }
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  return child;
}

/** SIGTERM (the process drains), then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== undefined) return;
  child.proc.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (child.exitCode === undefined) child.proc.kill("SIGKILL");
      resolve();
    }, graceMs);
  });
  await Promise.race([child.exited, killed]);
  clearTimeout(timer);
  await child.exited;
}

/** Resident set high-water mark (VmHWM) of a live process, in MiB; NaN when unreadable. */
export function peakRssMiB(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/** Polls `url` until it answers 200, the child exits, or `timeoutMs` passes. */
export async function waitHealthy(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== undefined)
      throw new Error(`${child.name} exited (${child.exitCode}) before it was healthy:\n${child.tail.join("\n")}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name}: ${url} not healthy after ${timeoutMs} ms:\n${child.tail.join("\n")}`);
}
