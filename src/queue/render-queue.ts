// The BullMQ render queue. The BullMQ job id is our job id, so adding is idempotent: the accept
// path, the worker, the reconciler and a retried request can all add the same job safely.
//
// Fair scheduling (admission.ts): a job is added only once PostgreSQL has admitted it, that is
// once its organisation has one of its RENDER_ORG_SLOTS free. `enqueue` (after an accept commits)
// and `admit` (after an organisation's job ends) run an admission pass and add what it admitted,
// all of it in one round trip to Redis (addBulk), in admission order.
import { Queue, type ConnectionOptions, type JobsOptions } from "bullmq";
import type { ScriptStatement, Sql } from "../db/sql.js";
import { admitForOrgAfter, type Admitted } from "./admission.js";

export const RENDER_QUEUE = "render";

export interface RenderPayload {
  jobId: string;
}

export interface RenderQueueOptions {
  connection: ConnectionOptions;
  prefix: string;
  attempts: number;
  /** The record, where admission is decided. */
  sql: Sql;
  /** RENDER_ORG_SLOTS: an organisation's admitted, unfinished render jobs, at most. */
  orgSlots: number;
}

/** A statement to run in an admission pass's transaction, and who waits for its rows. */
interface Lead {
  statement: ScriptStatement;
  resolve: (rows: unknown[]) => void;
  reject: (err: unknown) => void;
}

/** An admission pass of one organisation: its statements until it starts, and its outcome. */
interface Pass {
  leads: Lead[];
  done: Promise<number>;
}

export class RenderQueue {
  readonly queue: Queue<RenderPayload>;
  /** Per organisation: the admission pass not yet started, which every new caller can join. */
  private readonly nextPass = new Map<string, Pass>();
  /** Per organisation: the last pass scheduled (passes of one organisation run one at a time). */
  private readonly lastPass = new Map<string, Pass>();

  constructor(private readonly opts: RenderQueueOptions) {
    this.queue = new Queue<RenderPayload>(RENDER_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  }

  /** RENDER_ORG_SLOTS. */
  get orgSlots(): number {
    return this.opts.orgSlots;
  }

  /**
   * Render jobs of the organisation were accepted (their rows are committed): each is queued now if
   * the organisation has a free slot, otherwise when one frees (it waits in PostgreSQL, oldest
   * first). Resolves once a pass that saw them has run: the jobs it admitted are on the queue (one
   * admitted by an earlier pass still running was added by that pass, which ran first).
   */
  async enqueue(orgId: string): Promise<void> {
    await this.admit(orgId);
  }

  /**
   * Admits the organisation's oldest waiting jobs while it has free slots, and queues them.
   * Resolves to how many were admitted by the pass that covered this call. Concurrent calls for
   * one organisation in this process share a pass that starts after the call: one pass runs at a
   * time, and one more waits to run, however many callers there are.
   */
  admit(orgId: string): Promise<number> {
    return this.pending(orgId).done;
  }

  /**
   * Runs `statement` (its values inlined as literals, see src/db/sql.ts) in the transaction of the
   * organisation's next admission pass, under its lock, before it admits: a job that ends frees its
   * slot and hands it on in one round trip. `rows`: the statement's rows once committed (it rolls
   * back with the pass: then both reject). `queued`: the pass, as `admit` resolves it.
   */
  admitAfter<R>(orgId: string, statement: ScriptStatement): { rows: Promise<R[]>; queued: Promise<number> } {
    const pass = this.pending(orgId);
    const rows = new Promise<R[]>((resolve, reject) =>
      pass.leads.push({ statement, resolve: (r) => resolve(r as R[]), reject }),
    );
    return { rows, queued: pass.done };
  }

  /** The organisation's pass that has not started yet, scheduled after its last one if need be. */
  private pending(orgId: string): Pass {
    const waiting = this.nextPass.get(orgId);
    if (waiting) return waiting; // not started yet: it will see everything committed before this call
    const previous = this.lastPass.get(orgId)?.done ?? Promise.resolve(0);
    const pass: Pass = { leads: [], done: Promise.resolve(0) };
    pass.done = previous
      .catch(() => 0)
      .then(async () => {
        this.nextPass.delete(orgId); // from now on, callers schedule the next pass
        const leads = pass.leads;
        let admitted: Admitted[];
        try {
          const outcome = await admitForOrgAfter(
            this.opts.sql,
            orgId,
            this.opts.orgSlots,
            leads.map((l) => l.statement),
          );
          admitted = outcome.admitted;
          leads.forEach((l, i) => l.resolve(outcome.rows[i]!));
        } catch (err) {
          for (const l of leads) l.reject(err);
          throw err;
        }
        await this.addAll(admitted);
        return admitted.length;
      });
    this.nextPass.set(orgId, pass);
    this.lastPass.set(orgId, pass);
    void pass.done
      .catch(() => 0)
      .then(() => {
        if (this.lastPass.get(orgId) === pass) this.lastPass.delete(orgId);
      });
    return pass;
  }

  /**
   * Puts admitted jobs on the queue in one round trip, in order: addBulk for several; one job goes
   * with add, which is one round trip too and half the CPU (addBulk builds an ioredis pipeline,
   * which copies every BullMQ script onto itself: ~60 µs more per call, measured).
   */
  private async addAll(admitted: readonly Admitted[]): Promise<void> {
    if (admitted.length === 1) await this.add(admitted[0]!.id, admitted[0]!.priority);
    else if (admitted.length > 1)
      await this.queue.addBulk(
        admitted.map((job) => ({
          name: "render",
          data: { jobId: job.id },
          opts: this.jobOptions(job.id, job.priority),
        })),
      );
  }

  /** Puts an admitted job on the queue (idempotent: nothing happens when the queue holds it). */
  async add(jobId: string, priority: number): Promise<void> {
    await this.queue.add("render", { jobId }, this.jobOptions(jobId, priority));
  }

  private jobOptions(jobId: string, priority: number): JobsOptions {
    return {
      // The job's own id: adding it again (a re-admission, the reconciler) adds nothing.
      jobId,
      // 0: no priority, served before every prioritized job (see queuePriority in admission.ts).
      ...(priority > 0 ? { priority } : {}),
      attempts: this.opts.attempts,
      backoff: { type: "exponential", delay: 1_000 },
      // Postgres is the record; Redis keeps only enough history to debug and dedupe.
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600 },
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
