// Job: the same view REST returns (src/jobs/view.ts), in GraphQL's camelCase.
import { getJob, viewOf } from "../jobs/service.js";
import { NotFoundError } from "../jobs/errors.js";
import type { JobStatus as JobStatusValue, JobView } from "../jobs/view.js";
import { builder } from "./builder.js";
import { requirePrincipal } from "./errors.js";

export const JobStatus = builder.enumType("JobStatus", {
  values: ["pending", "processing", "complete", "failed"] as const satisfies readonly JobStatusValue[],
});

export const JobRef = builder.objectRef<JobView>("Job").implement({
  description: "A render job. Mirrors GET /api/v1/create/:job_id.",
  fields: (t) => ({
    id: t.exposeID("job_id"),
    status: t.field({ type: JobStatus, resolve: (job) => job.status }),
    templateId: t.exposeString("template_id"),
    outputUrl: t.string({ nullable: true, resolve: (job) => job.output_url ?? null }),
    renderMs: t.int({ nullable: true, resolve: (job) => job.render_ms ?? null }),
    error: t.string({ nullable: true, resolve: (job) => job.error ?? null }),
    createdAt: t.field({ type: "DateTime", resolve: (job) => job.created_at }),
    completedAt: t.field({ type: "DateTime", nullable: true, resolve: (job) => job.completed_at ?? null }),
  }),
});

builder.queryField("job", (t) =>
  t.field({
    type: JobRef,
    nullable: true,
    description: "One of your organisation's jobs; null when it does not exist (or is another organisation's).",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const principal = requirePrincipal(ctx);
      try {
        return viewOf(ctx.app, await getJob(ctx.app, principal.orgId, String(args.id)));
      } catch (e) {
        if (e instanceof NotFoundError) return null;
        throw e;
      }
    },
  }),
);
