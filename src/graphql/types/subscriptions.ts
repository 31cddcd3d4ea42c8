// Live job status: one job until it is final, or every job of the organisation (dashboards). The
// same views as the Job type, pushed by the event bus (src/jobs/watch.ts).
import { getJob } from "../../jobs/service.js";
import type { JobView } from "../../jobs/view.js";
import { watchJob, watchOrganization } from "../../jobs/watch.js";
import { builder, principalOf } from "../builder.js";
import { graphqlErrorOf } from "../error-codes.js";
import { JobRef } from "./job.js";

builder.subscriptionFields((t) => ({
  jobStatus: t.field({
    type: JobRef,
    description: "The job's current state at once, then every change; completes after the final state.",
    args: { jobId: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const orgId = principalOf(ctx).orgId;
      const jobId = String(args.jobId);
      // Refuse another organisation's (or an unknown) job before anything is streamed: NOT_FOUND.
      await getJob(ctx.app, orgId, jobId).catch((e: unknown) => {
        throw graphqlErrorOf(e) ?? e;
      });
      return watchJob(ctx.app, orgId, jobId);
    },
    resolve: (view: JobView) => view,
  }),
  jobUpdates: t.field({
    type: JobRef,
    description: "Every status change of every job of your organisation, for dashboards.",
    subscribe: (_root, _args, ctx) => watchOrganization(ctx.app, principalOf(ctx).orgId),
    resolve: (view: JobView) => view,
  }),
}));
