// The job as clients see it: the contract's poll body. REST returns it as is; GraphQL, events
// and webhooks are shaped from the same function so they can never disagree.
import type { z } from "zod";
import type { Job } from "../generated/prisma/client.js";
import type {
  JobItemView as JobItemViewSchema,
  JobStatus as JobStatusSchema,
  JobView as JobViewSchema,
  SendToStatus as SendToStatusSchema,
} from "../views/job.js";

// The shapes are zod schemas in src/views/job.ts, shared with the published client.
export type JobStatus = z.infer<typeof JobStatusSchema>;
/** One item of a group job, as listed in the group's poll body. */
export type JobItemView = z.infer<typeof JobItemViewSchema>;
type SendToStatus = z.infer<typeof SendToStatusSchema>;
export type JobView = z.infer<typeof JobViewSchema>;

/**
 * A complete group read the way the contract reads a complete job: `output_url` is its first
 * template's output, `output_urls` all of them in the group's order, `render_ms` the items' render
 * time added up (the work the group was charged for). A failed group has none of these at the top,
 * like a failed render; its complete items still carry their own.
 */
function groupOutputs(items: Job[], publicUrl: (key: string) => string) {
  const urls = items.flatMap((item) => (item.outputKey ? [publicUrl(item.outputKey)] : []));
  if (urls.length === 0) return {};
  return {
    output_url: urls[0]!,
    output_urls: urls,
    render_ms: items.reduce((sum, item) => sum + (item.renderMs ?? 0), 0),
  };
}

/**
 * When retention deleted the job's output; for a group, the first of its items' outputs to go
 * (from then on the group no longer has all it rendered).
 */
function outputExpiredAt(job: Job, items: Job[] | undefined): Date | null {
  const dates = [job, ...(items ?? [])].flatMap((j) => (j.outputDeletedAt ? [j.outputDeletedAt] : []));
  return dates.length === 0 ? null : new Date(Math.min(...dates.map((d) => d.getTime())));
}

/** `items`: a group job's items, in the group's template order. `publicUrl`: the output_url of a key. */
export function jobView(job: Job, publicUrl: (key: string) => string, items?: Job[]): JobView {
  const complete = job.status === "complete";
  const expiredAt = complete ? outputExpiredAt(job, items) : null;
  // Key order follows the contract's example body.
  return {
    job_id: job.id,
    status: job.status,
    ...(job.templateId ? { template_id: job.templateId } : {}),
    ...(job.kind === "group" && job.designGroupId ? { design_group_id: job.designGroupId } : {}),
    ...(complete && job.outputKey ? { output_url: publicUrl(job.outputKey) } : {}),
    ...(complete && job.renderMs !== null ? { render_ms: job.renderMs } : {}),
    ...(complete && job.kind === "group" && items ? groupOutputs(items, publicUrl) : {}),
    ...(expiredAt ? { output_expired_at: expiredAt.toISOString() } : {}),
    ...(job.status === "failed" ? { error: job.error ?? "render failed" } : {}),
    created_at: job.createdAt.toISOString(),
    ...(job.completedAt ? { completed_at: job.completedAt.toISOString() } : {}),
    ...(complete && job.sendToStatus ? { send_to_status: job.sendToStatus as SendToStatus } : {}),
    ...(complete && job.sendToStatus === "failed" ? { send_to_error: job.sendToError ?? "delivery failed" } : {}),
    ...(complete && job.sendToStatus === "delivered" && job.sendToResult
      ? { send_to_result: job.sendToResult as Record<string, string> }
      : {}),
    ...(items
      ? {
          items: items.map((item) => ({
            job_id: item.id,
            template_id: item.templateId,
            status: item.status,
            output_url: item.status === "complete" && item.outputKey ? publicUrl(item.outputKey) : null,
            render_ms: item.status === "complete" ? item.renderMs : null,
            error: item.status === "failed" ? (item.error ?? "render failed") : null,
            ...(item.outputDeletedAt ? { output_expired_at: item.outputDeletedAt.toISOString() } : {}),
          })),
        }
      : {}),
  };
}

/** Nothing more will happen to the job: final, and its send_to (if any) final too. */
export const isSettled = (view: Pick<JobView, "status" | "send_to_status">) =>
  view.status === "failed" ||
  (view.status === "complete" &&
    (view.send_to_status === undefined || view.send_to_status === "delivered" || view.send_to_status === "failed"));

/** Progress order of the states a client can see, so events never go backwards. */
export function progressRank(view: Pick<JobView, "status" | "send_to_status">): number {
  if (view.status === "pending") return 0;
  if (view.status === "processing") return 1;
  if (view.status === "failed" || view.send_to_status === undefined) return 4;
  return { pending: 2, delivering: 3, delivered: 4, failed: 4 }[view.send_to_status];
}
