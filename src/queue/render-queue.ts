// The BullMQ render queue. The BullMQ job id is our job id, so adding is idempotent: the accept
// path, the worker, the reconciler and a retried request can all add the same job safely.
//
// Fair scheduling (admission.ts): a job is added only once PostgreSQL has admitted it, that is
// once its organisation has one of its RENDER_ORG_SLOTS free. `enqueue` (after an accept commits)
// and `admit` (after an organisation's job ends) run an admission pass and add what it admitted.
import { Queue, type ConnectionOptions } from "bullmq";
import type { Prisma } from "../db/client.js";
import { admitForOrg, findJobAdmission } from "./admission.js";

export const RENDER_QUEUE = "render";

export interface RenderPayload {
  jobId: string;
}

export interface RenderQueueOptions {
  connection: ConnectionOptions;
  prefix: string;
  attempts: number;
  /** The record, where admission is decided. */
  prisma: Prisma;
  /** RENDER_ORG_SLOTS: an organisation's admitted, unfinished render jobs, at most. */
  orgSlots: number;
}

export class RenderQueue {
  readonly queue: Queue<RenderPayload>;
  /** Per organisation: the admission pass not yet started, which every new caller can join. */
  private readonly nextPass = new Map<string, Promise<number>>();
  /** Per organisation: the last pass scheduled (passes of one organisation run one at a time). */
  private readonly lastPass = new Map<string, Promise<number>>();

  constructor(private readonly opts: RenderQueueOptions) {
    this.queue = new Queue<RenderPayload>(RENDER_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  }

  /** RENDER_ORG_SLOTS. */
  get orgSlots(): number {
    return this.opts.orgSlots;
  }

  /**
   * A render job was accepted (its row is committed): it is queued now if its organisation has a
   * free slot, otherwise when one frees (the job waits in PostgreSQL, oldest first).
   */
  async enqueue(jobId: string): Promise<void> {
    const job = await findJobAdmission(this.opts.prisma, jobId);
    if (!job) return;
    // Admitted by an earlier pass (one accept's jobs are all seen by its first pass): let a pass
    // of this process that is still adding it finish, and that is all.
    if (job.admitted) await this.lastPass.get(job.orgId)?.catch(() => 0);
    else await this.admit(job.orgId);
  }

  /**
   * Admits the organisation's oldest waiting jobs while it has free slots, and queues them.
   * Resolves to how many were admitted by the pass that covered this call. Concurrent calls for
   * one organisation in this process share a pass that starts after the call: one pass runs at a
   * time, and one more waits to run, however many callers there are.
   */
  admit(orgId: string): Promise<number> {
    const waiting = this.nextPass.get(orgId);
    if (waiting) return waiting; // not started yet: it will see everything committed before this call
    const previous = this.lastPass.get(orgId) ?? Promise.resolve(0);
    const pass = previous
      .catch(() => 0)
      .then(async () => {
        this.nextPass.delete(orgId);
        const admitted = await admitForOrg(this.opts.prisma, orgId, this.opts.orgSlots);
        for (const job of admitted) await this.add(job.id, job.priority);
        return admitted.length;
      });
    this.nextPass.set(orgId, pass);
    this.lastPass.set(orgId, pass);
    void pass
      .catch(() => 0)
      .then(() => {
        if (this.lastPass.get(orgId) === pass) this.lastPass.delete(orgId);
      });
    return pass;
  }

  /** Puts an admitted job on the queue (idempotent: nothing happens when the queue holds it). */
  async add(jobId: string, priority: number): Promise<void> {
    await this.queue.add(
      "render",
      { jobId },
      {
        jobId,
        // 0: no priority, served before every prioritized job (see queuePriority in admission.ts).
        ...(priority > 0 ? { priority } : {}),
        attempts: this.opts.attempts,
        backoff: { type: "exponential", delay: 1_000 },
        // Postgres is the record; Redis keeps only enough history to debug and dedupe.
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600 },
      },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
