// The job as clients see it: the contract's poll body. REST returns it as is; GraphQL, events
// and webhooks are shaped from the same function so they can never disagree.
import type { Job } from "../generated/prisma/client.js";

export type JobStatus = "pending" | "processing" | "complete" | "failed";

export interface JobView {
  job_id: string;
  status: JobStatus;
  template_id: string;
  output_url?: string;
  render_ms?: number;
  error?: string;
  created_at: string;
  completed_at?: string;
}

export function jobView(job: Job, publicUrl: (key: string) => string): JobView {
  const complete = job.status === "complete";
  // Key order follows the contract's example body.
  return {
    job_id: job.id,
    status: job.status,
    template_id: job.templateId,
    ...(complete && job.outputKey ? { output_url: publicUrl(job.outputKey) } : {}),
    ...(complete && job.renderMs !== null ? { render_ms: job.renderMs } : {}),
    ...(job.status === "failed" ? { error: job.error ?? "render failed" } : {}),
    created_at: job.createdAt.toISOString(),
    ...(job.completedAt ? { completed_at: job.completedAt.toISOString() } : {}),
  };
}

export const isFinal = (status: JobStatus) => status === "complete" || status === "failed";
