// Jobs: the same view REST returns (src/jobs/view.ts), in GraphQL's camelCase, and the queries
// that read them (GET /api/v1/create/:job_id and the job list).
import { NotFoundError } from "../../errors.js";
import { getJob, listJobs, viewOf } from "../../jobs/service.js";
import type { JobItemView, JobStatus as JobStatusValue, JobView } from "../../jobs/view.js";
import { builder, principalOf } from "../builder.js";
import { pageArgs, toConnection } from "../connections.js";

const JobStatus = builder.enumType("JobStatus", {
  values: ["pending", "processing", "complete", "failed"] as const satisfies readonly JobStatusValue[],
});

const SendToStatus = builder.enumType("SendToStatus", {
  values: ["pending", "delivering", "delivered", "failed"] as const,
});

const JobItem = builder.objectRef<JobItemView>("JobItem").implement({
  description: "One render of a design group job.",
  fields: (t) => ({
    id: t.exposeID("job_id"),
    templateId: t.exposeString("template_id", { nullable: true }),
    status: t.field({ type: JobStatus, resolve: (item) => item.status }),
    outputUrl: t.exposeString("output_url", { nullable: true }),
    renderMs: t.exposeInt("render_ms", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    outputExpiredAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the retention policy deleted this item's output (its outputUrl then answers 410)",
      resolve: (item) => item.output_expired_at ?? null,
    }),
  }),
});

export const JobRef = builder.objectRef<JobView>("Job").implement({
  description: "A render job, or a design group job (with items). Mirrors GET /api/v1/create/:job_id.",
  fields: (t) => ({
    id: t.exposeID("job_id"),
    status: t.field({ type: JobStatus, resolve: (job) => job.status }),
    templateId: t.string({ nullable: true, resolve: (job) => job.template_id ?? null }),
    designGroupId: t.string({ nullable: true, resolve: (job) => job.design_group_id ?? null }),
    items: t.field({
      type: [JobItem],
      nullable: true,
      description: "Group jobs: each item's state",
      resolve: (job) => job.items ?? null,
    }),
    outputUrl: t.string({
      nullable: true,
      description: "A complete job's image; a complete group's first template's image",
      resolve: (job) => job.output_url ?? null,
    }),
    outputUrls: t.stringList({
      nullable: true,
      description: "A complete group job: every item's image, in the group's template order",
      resolve: (job) => job.output_urls ?? null,
    }),
    outputExpiredAt: t.field({
      type: "DateTime",
      nullable: true,
      description:
        "When the retention policy (OUTPUT_RETENTION_DAYS) deleted the output: outputUrl stays, and answers 410",
      resolve: (job) => job.output_expired_at ?? null,
    }),
    renderMs: t.int({ nullable: true, resolve: (job) => job.render_ms ?? null }),
    error: t.string({ nullable: true, resolve: (job) => job.error ?? null }),
    createdAt: t.field({ type: "DateTime", resolve: (job) => job.created_at }),
    completedAt: t.field({ type: "DateTime", nullable: true, resolve: (job) => job.completed_at ?? null }),
    sendToStatus: t.field({
      type: SendToStatus,
      nullable: true,
      description: "With send_to, once the render is complete",
      resolve: (job) => job.send_to_status ?? null,
    }),
    sendToError: t.string({ nullable: true, resolve: (job) => job.send_to_error ?? null }),
    sendToResult: t.field({
      type: "JSON",
      nullable: true,
      description: "The destination's identifiers once delivered",
      resolve: (job) => job.send_to_result ?? null,
    }),
  }),
});

builder.queryFields((t) => ({
  job: t.field({
    type: JobRef,
    nullable: true,
    description: "One of your organisation's jobs; null when it does not exist (or is another organisation's).",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      try {
        return await viewOf(ctx.app, await getJob(ctx.app, principalOf(ctx).orgId, String(args.id)));
      } catch (e) {
        if (e instanceof NotFoundError) return null;
        throw e;
      }
    },
  }),
  jobs: t.connection({
    type: JobRef,
    description: "Your organisation's jobs, newest first.",
    args: {
      status: t.arg({ type: JobStatus, required: false }),
      templateId: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      const page = await listJobs(
        ctx.app,
        principalOf(ctx).orgId,
        { status: args.status ?? undefined, templateId: args.templateId ?? undefined },
        pageArgs(args),
      );
      return toConnection(page, (job) => viewOf(ctx.app, job), args);
    },
  }),
}));
