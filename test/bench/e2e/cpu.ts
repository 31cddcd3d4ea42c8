// CPU time actually used (user + system, from /proc), so that a figure taken on a busy machine
// can still say what one request or one render costs: wall-clock rates fall when other work runs,
// CPU per operation mostly does not.
import { readdirSync, readFileSync } from "node:fs";
import { round } from "./stats.js";

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU ms used so far by one process (all its threads); NaN when it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
  } catch {
    return NaN;
  }
}

/**
 * CPU ms used so far by each PostgreSQL backend connected to `database` (their titles name it),
 * by pid: a backend that exits between two snapshots takes its last CPU with it, so callers
 * compare pid by pid (see `used`).
 */
export function postgresBackendsCpuMs(database: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.startsWith("postgres: ") && cmd.includes(` ${database} `)) out[entry] = processCpuMs(Number(entry)) || 0;
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export type CpuSnapshot = Record<string, number | Record<string, number>>;

/** CPU ms per named part, now (a part may be several processes, by pid). */
export function snapshot(parts: Record<string, () => number | Record<string, number>>): CpuSnapshot {
  return Object.fromEntries(Object.entries(parts).map(([k, f]) => [k, f()]));
}

/** CPU ms used per part between two snapshots; processes are matched by pid. */
export function used(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, a] of Object.entries(after)) {
    const b = before[k];
    if (typeof a === "number") out[k] = Math.max(0, a - (typeof b === "number" ? b : 0));
    else
      out[k] = Object.entries(a).reduce(
        (sum, [pid, ms]) => sum + Math.max(0, ms - (typeof b === "object" ? (b[pid] ?? 0) : 0)),
        0,
      );
  }
  return out;
}

/** CPU ms per operation, per part (two decimals). */
export const perOp = (cpu: Record<string, number>, ops: number) =>
  Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v / ops, 2)]));
