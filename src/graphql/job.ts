// Jobs: the same view REST returns (src/jobs/view.ts), in GraphQL's camelCase; the createRender
// mutation (the domain call behind POST /api/v1/create); live status subscriptions.
import { GraphQLError } from "graphql";
import { z } from "zod";
import { SendTo } from "../delivery/destinations/index.js";
import { exportDesign, ExportRequest, type ExportResult } from "../delivery/export.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { createGroupRender, createRender, CreateRenderInput, createStudioRender, GroupRenderInput, StudioRenderInput } from "../jobs/accept.js";
import { getJob, listJobs, viewOf } from "../jobs/service.js";
import type { JobItemView, JobStatus as JobStatusValue, JobView } from "../jobs/view.js";
import { watchJob, watchOrganization } from "../jobs/watch.js";
import { builder, principalOf } from "./builder.js";
import { pageArgs, toConnection } from "./connections.js";
import { CREATE_JOB_ERRORS } from "./errors.js";

export const JobStatus = builder.enumType("JobStatus", {
  values: ["pending", "processing", "complete", "failed"] as const satisfies readonly JobStatusValue[],
});

const SendToStatus = builder.enumType("SendToStatus", { values: ["pending", "delivering", "delivered", "failed"] as const });

const JobItem = builder.objectRef<JobItemView>("JobItem").implement({
  description: "One render of a design group job.",
  fields: (t) => ({
    id: t.exposeID("job_id"),
    templateId: t.exposeString("template_id", { nullable: true }),
    status: t.field({ type: JobStatus, resolve: (item) => item.status }),
    outputUrl: t.exposeString("output_url", { nullable: true }),
    renderMs: t.exposeInt("render_ms", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
  }),
});

export const JobRef = builder.objectRef<JobView>("Job").implement({
  description: "A render job, or a design group job (with items). Mirrors GET /api/v1/create/:job_id.",
  fields: (t) => ({
    id: t.exposeID("job_id"),
    status: t.field({ type: JobStatus, resolve: (job) => job.status }),
    templateId: t.string({ nullable: true, resolve: (job) => job.template_id ?? null }),
    designGroupId: t.string({ nullable: true, resolve: (job) => job.design_group_id ?? null }),
    items: t.field({ type: [JobItem], nullable: true, description: "Group jobs: each item's state", resolve: (job) => job.items ?? null }),
    outputUrl: t.string({ nullable: true, resolve: (job) => job.output_url ?? null }),
    renderMs: t.int({ nullable: true, resolve: (job) => job.render_ms ?? null }),
    error: t.string({ nullable: true, resolve: (job) => job.error ?? null }),
    createdAt: t.field({ type: "DateTime", resolve: (job) => job.created_at }),
    completedAt: t.field({ type: "DateTime", nullable: true, resolve: (job) => job.completed_at ?? null }),
    sendToStatus: t.field({ type: SendToStatus, nullable: true, description: "With send_to, once the render is complete", resolve: (job) => job.send_to_status ?? null }),
    sendToError: t.string({ nullable: true, resolve: (job) => job.send_to_error ?? null }),
    sendToResult: t.field({ type: "JSON", nullable: true, description: "The destination's identifiers once delivered", resolve: (job) => job.send_to_result ?? null }),
  }),
});

const notFound = (what: string) => new GraphQLError(`${what} not found`, { extensions: { code: "NOT_FOUND" } });

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
      const page = await listJobs(ctx.app, principalOf(ctx).orgId, { status: args.status ?? undefined, templateId: args.templateId ?? undefined }, pageArgs(args));
      return toConnection(page, (job) => viewOf(ctx.app, job), args);
    },
  }),
}));

// ---------------------------------------------------------------- createRender

const OutputFormat = builder.enumType("OutputFormat", { values: ["png", "jpeg", "webp"] as const });

const ModificationInput = builder.inputType("ModificationInput", {
  description: "Overrides for one layer, by name (see the REST API's modifications).",
  fields: (t) => ({
    name: t.string({ required: true }),
    text: t.string(),
    imageUrl: t.string(),
    color: t.string(),
    background: t.string(),
    hide: t.boolean(),
    fontSize: t.float(),
    fontFamily: t.string(),
    fontWeight: t.int(),
    opacity: t.float(),
  }),
});

const CreateRenderInputRef = builder.inputType("CreateRenderInput", {
  fields: (t) => ({
    templateId: t.string({ required: true }),
    webhookUrl: t.string({ description: "POSTed the final job, signed (Standard Webhooks)" }),
    sendTo: t.field({ type: "JSON", description: "A send_to destination, as in the REST API" }),
    modifications: t.field({ type: [ModificationInput] }),
    format: t.field({ type: OutputFormat }),
    quality: t.int(),
    scale: t.float(),
  }),
});

type Maybe<T> = T | null | undefined;
const defined = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));

const snakeModifications = (mods: Maybe<readonly Record<string, unknown>[]>) =>
  mods?.map((m) =>
    defined({
      name: m.name,
      text: m.text,
      image_url: m.imageUrl,
      color: m.color,
      background: m.background,
      hide: m.hide,
      font_size: m.fontSize,
      font_family: m.fontFamily,
      font_weight: m.fontWeight,
      opacity: m.opacity,
    }),
  );

/** GraphQL input (camelCase, already mapped to snake_case) -> the domain's schema, errors pathed under `input`. */
function parseInput<S extends z.ZodType>(schema: S, raw: Record<string, unknown>): z.output<S> {
  const parsed = schema.safeParse(defined(raw));
  if (!parsed.success) throw ValidationError.fromZod(parsed.error.issues, "input");
  return parsed.data;
}

interface OutputArgs {
  modifications?: Maybe<readonly Record<string, unknown>[]>;
  format?: Maybe<string>;
  quality?: Maybe<number>;
  scale?: Maybe<number>;
}
const outputArgs = (input: OutputArgs) => ({
  format: input.format,
  quality: input.quality,
  scale: input.scale,
  modifications: snakeModifications(input.modifications),
});

export const IdempotencyKeyArg = z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

builder.mutationField("createRender", (t) =>
  t.field({
    type: JobRef,
    description: "Queue a render (POST /api/v1/create). Answers at once with the pending job.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateRenderResult" } },
    args: {
      input: t.arg({ type: CreateRenderInputRef, required: true }),
      idempotencyKey: t.arg.string({ required: false, validate: IdempotencyKeyArg.optional().nullable() }),
    },
    resolve: async (_root, args, ctx) => {
      const input = parseInput(CreateRenderInput, {
        template_id: args.input.templateId,
        webhook_url: args.input.webhookUrl,
        send_to: args.input.sendTo,
        ...outputArgs(args.input),
      });
      const accepted = await createRender(ctx.app, principalOf(ctx).orgId, input, {
        idempotencyKey: args.idempotencyKey ?? undefined,
        requestId: ctx.requestId,
      });
      // A replayed key returns the job the first request created, as it is now.
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);

const StudioRenderInputRef = builder.inputType("StudioRenderInput", {
  fields: (t) => ({
    name: t.string(),
    design: t.field({ type: "JSON", required: true, description: "A template document, as in POST /api/v1/templates" }),
    modifications: t.field({ type: [ModificationInput] }),
    format: t.field({ type: OutputFormat }),
    quality: t.int(),
    scale: t.float(),
  }),
});

builder.mutationField("createStudioRender", (t) =>
  t.field({
    type: JobRef,
    description: "Save a design as a template and render it (POST /api/v1/studio/create-and-render). The job's templateId is the new template.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateStudioRenderResult" } },
    args: {
      input: t.arg({ type: StudioRenderInputRef, required: true }),
      idempotencyKey: t.arg.string({ required: false, validate: IdempotencyKeyArg.optional().nullable() }),
    },
    resolve: async (_root, args, ctx) => {
      const design = args.input.design && typeof args.input.design === "object" ? args.input.design : {};
      const input = parseInput(StudioRenderInput, { design: defined({ ...design, name: args.input.name }), ...outputArgs(args.input) });
      const accepted = await createStudioRender(ctx.app, principalOf(ctx).orgId, input, { idempotencyKey: args.idempotencyKey ?? undefined, requestId: ctx.requestId });
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);

const DesignGroupRenderInputRef = builder.inputType("DesignGroupRenderInput", {
  fields: (t) => ({
    designGroupId: t.string({ description: "A saved design group; or give templateIds" }),
    templateIds: t.stringList(),
    modifications: t.field({ type: [ModificationInput] }),
    format: t.field({ type: OutputFormat }),
    quality: t.int(),
    scale: t.float(),
  }),
});

builder.mutationField("createDesignGroup", (t) =>
  t.field({
    type: JobRef,
    description: "Render every template of a design group with one set of modifications (POST /api/v1/design-groups/create). Answers with the group job; its items follow.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateDesignGroupResult" } },
    args: {
      input: t.arg({ type: DesignGroupRenderInputRef, required: true }),
      idempotencyKey: t.arg.string({ required: false, validate: IdempotencyKeyArg.optional().nullable() }),
    },
    resolve: async (_root, args, ctx) => {
      const input = parseInput(GroupRenderInput, { design_group_id: args.input.designGroupId, template_ids: args.input.templateIds, ...outputArgs(args.input) });
      const accepted = await createGroupRender(ctx.app, principalOf(ctx).orgId, input, { idempotencyKey: args.idempotencyKey ?? undefined, requestId: ctx.requestId });
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);

const ExportDesignInputRef = builder.inputType("ExportDesignInput", {
  fields: (t) => ({
    templateId: t.string({ description: "A saved template; or give design" }),
    design: t.field({ type: "JSON", description: "A template document to save and render" }),
    destination: t.field({ type: "JSON", required: true, description: 'A send_to destination, e.g. {"type":"dropbox","access_token":"…","path":"/renders"}' }),
    modifications: t.field({ type: [ModificationInput] }),
    format: t.field({ type: OutputFormat }),
    quality: t.int(),
    scale: t.float(),
    webhookUrl: t.string(),
    async: t.boolean({ description: "Answer at once (queued) instead of waiting for the render and the send" }),
  }),
});

const ExportResultRef = builder.objectRef<ExportResult>("ExportResult").implement({
  description: "The Studio export routes' answer: branch on `async` (when true, only jobId is known yet).",
  fields: (t) => ({
    ok: t.exposeBoolean("ok"),
    async: t.exposeBoolean("async"),
    jobId: t.exposeID("job_id"),
    outputUrl: t.string({ nullable: true, resolve: (r) => (r.async ? null : (r.outputUrl ?? null)) }),
    error: t.string({ nullable: true, resolve: (r) => (r.async ? null : (r.error ?? null)) }),
    identifiers: t.field({
      type: "JSON",
      nullable: true,
      description: "The destination's identifiers (Dropbox: dropbox_file_id, dropbox_path)",
      resolve: (r) => {
        if (r.async) return null;
        const { ok: _ok, async: _async, job_id: _id, outputUrl: _url, error: _error, ...identifiers } = r;
        return identifiers;
      },
    }),
  }),
});

builder.mutationField("exportDesign", (t) =>
  t.field({
    type: ExportResultRef,
    description: "Render a template or design and send it to a destination (POST /api/v1/studio/export/*).",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "ExportDesignResult" } },
    args: {
      input: t.arg({ type: ExportDesignInputRef, required: true }),
      idempotencyKey: t.arg.string({ required: false, validate: IdempotencyKeyArg.optional().nullable() }),
    },
    resolve: async (_root, args, ctx) => {
      const design = args.input.design && typeof args.input.design === "object" ? args.input.design : undefined;
      const request = parseInput(ExportRequest, {
        template_id: args.input.templateId,
        design,
        webhook_url: args.input.webhookUrl,
        async: args.input.async,
        ...outputArgs(args.input),
      });
      const destination = SendTo.safeParse(args.input.destination);
      if (!destination.success) throw ValidationError.fromZod(destination.error.issues, "input.destination");
      return exportDesign(ctx.app, principalOf(ctx).orgId, request, destination.data, {
        idempotencyKey: args.idempotencyKey ?? undefined,
        requestId: ctx.requestId,
        waitMs: ctx.app.config.SYNC_TIMEOUT_MS,
      });
    },
  }),
);

// ---------------------------------------------------------------- subscriptions

builder.subscriptionFields((t) => ({
  jobStatus: t.field({
    type: JobRef,
    description: "The job's current state at once, then every change; completes after the final state.",
    args: { jobId: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const orgId = principalOf(ctx).orgId;
      const jobId = String(args.jobId);
      // Refuse another organisation's (or an unknown) job before anything is streamed.
      await getJob(ctx.app, orgId, jobId).catch((e: unknown) => {
        throw e instanceof NotFoundError ? notFound("job") : e;
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
