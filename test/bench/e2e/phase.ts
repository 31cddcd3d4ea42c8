// What a phase of e2e.bench.ts kept in a module of its own (accept-orgs.ts, flood.ts) gets from the
// run, and the rows it adds to the printed table: the phases reach the stack, its database and the
// cleanup register only through this.
import type pg from "pg";
import type { CpuSnapshot } from "./cpu.js";
import type { BenchOrg } from "./organisations.js";

export interface PhaseContext {
  /** The API, http://127.0.0.1:PORT. */
  base: string;
  redisUrl: string;
  /** The stack's QUEUE_PREFIX (its event channels are named with it). */
  prefix: string;
  /** The run's own database (read only: job timestamps and counts). */
  db: pg.Client;
  /** --clients: concurrent clients of the load phases. */
  clients: number;
  /** The reference card's template JSON. */
  card: string;
  /** The request bodies of the reference render for a saved template, by request number. */
  bodiesFor: (templateId: string) => (i: number) => string;
  /** New organisations in the run's database (dropped with it). */
  newOrganisations: (names: readonly string[]) => Promise<BenchOrg[]>;
  /** CPU used so far by the API, the workers, the database's backends and the bench. */
  cpu: () => CpuSnapshot;
  /** Waits until no job is pending or processing; seconds it took. */
  drain: (what: string, timeoutMs: number) => Promise<number>;
  onCleanup: (what: string, fn: () => unknown) => void;
  note: (line: string) => void;
}

/** A line of the printed table: measure, figure, target, verdict. */
export type Row = [string, string, string, string];

export const mark = (ok: boolean) => (ok ? "ok  " : "MISS");
