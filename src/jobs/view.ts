// The job as clients see it: the contract's poll body. REST returns it as is; GraphQL, events
// and webhooks are shaped from the same function so they can never disagree.
import type { Job } from "../generated/prisma/client.js";

export type JobStatus = "pending" | "processing" | "complete" | "failed";

/** One item of a group job, as listed in the group's poll body. */
export interface JobItemView {
  job_id: string;
  template_id: string | null;
  status: JobStatus;
  output_url: string | null;
  render_ms: number | null;
  error: string | null;
}

export interface JobView {
  job_id: string;
  status: JobStatus;
  template_id?: string;
  design_group_id?: string;
  output_url?: string;
  render_ms?: number;
  error?: string;
  created_at: string;
  completed_at?: string;
  items?: JobItemView[];
}

export function jobView(job: Job, publicUrl: (key: string) => string, items?: Job[]): JobView {
  const complete = job.status === "complete";
  // Key order follows the contract's example body.
  return {
    job_id: job.id,
    status: job.status,
    ...(job.templateId ? { template_id: job.templateId } : {}),
    ...(job.kind === "group" && job.designGroupId ? { design_group_id: job.designGroupId } : {}),
    ...(complete && job.outputKey ? { output_url: publicUrl(job.outputKey) } : {}),
    ...(complete && job.renderMs !== null ? { render_ms: job.renderMs } : {}),
    ...(job.status === "failed" ? { error: job.error ?? "render failed" } : {}),
    created_at: job.createdAt.toISOString(),
    ...(job.completedAt ? { completed_at: job.completedAt.toISOString() } : {}),
    ...(items
      ? {
          items: items.map((item) => ({
            job_id: item.id,
            template_id: item.templateId,
            status: item.status,
            output_url: item.status === "complete" && item.outputKey ? publicUrl(item.outputKey) : null,
            render_ms: item.status === "complete" ? item.renderMs : null,
            error: item.status === "failed" ? (item.error ?? "render failed") : null,
          })),
        }
      : {}),
  };
}

export const isFinal = (status: JobStatus) => status === "complete" || status === "failed";
