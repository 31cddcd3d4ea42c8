// The mutations that queue renders, each the domain call behind its REST route: createRender
// (POST /api/v1/create), createStudioRender (POST /api/v1/studio/create-and-render) and
// createDesignGroup (POST /api/v1/design-groups/create). Their inputs are derived from the same
// zod schemas the routes validate with and parsed by them; each answers at once with the pending
// job (a replayed idempotency key: the job the first request created, as it is now).
import { createGroupRender, createRender, createStudioRender } from "../../jobs/accept.js";
import { viewOf } from "../../jobs/service.js";
import { builder, principalOf } from "../builder.js";
import { fromGraphQLInput, idempotencyKeyArg, parseInput, zodInputFields } from "../inputs.js";
import { CREATE_JOB_ERRORS } from "./errors.js";
import { JobRef } from "./job.js";
import "./render-inputs.js";
import { CreateRenderInput, GroupRenderInput, StudioRenderInput } from "../../views/requests.js";

const CreateRenderInputRef = builder.inputType("CreateRenderInput", {
  fields: (t) =>
    zodInputFields(t, CreateRenderInput, {
      descriptions: {
        webhook_url: "POSTed the final job, signed (Standard Webhooks)",
        send_to: "A send_to destination, as in the REST API",
      },
    }),
});

builder.mutationField("createRender", (t) =>
  t.field({
    type: JobRef,
    description: "Queue a render (POST /api/v1/create). Answers at once with the pending job.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateRenderResult" } },
    args: {
      input: t.arg({ type: CreateRenderInputRef, required: true }),
      idempotencyKey: t.arg.string(idempotencyKeyArg),
    },
    resolve: async (_root, args, ctx) => {
      const input = parseInput(CreateRenderInput, fromGraphQLInput(CreateRenderInput, args.input));
      const accepted = await createRender(ctx.app, principalOf(ctx).orgId, input, {
        idempotencyKey: args.idempotencyKey ?? undefined,
        requestId: ctx.requestId,
      });
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);

// Over GraphQL the design's name is a field of its own, and the job delivers nothing (no
// webhookUrl or sendTo, unlike the REST route).
const STUDIO_NOT_OFFERED = ["webhook_url", "send_to"] as const;

const StudioRenderInputRef = builder.inputType("StudioRenderInput", {
  fields: (t) => ({
    name: t.string(),
    ...zodInputFields(t, StudioRenderInput, {
      omit: STUDIO_NOT_OFFERED,
      descriptions: { design: "A template document, as in POST /api/v1/templates" },
    }),
  }),
});

builder.mutationField("createStudioRender", (t) =>
  t.field({
    type: JobRef,
    description:
      "Save a design as a template and render it (POST /api/v1/studio/create-and-render). The job's templateId is the new template.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateStudioRenderResult" } },
    args: {
      input: t.arg({ type: StudioRenderInputRef, required: true }),
      idempotencyKey: t.arg.string(idempotencyKeyArg),
    },
    resolve: async (_root, args, ctx) => {
      const { name, design, ...rest } = args.input as { name?: string | null; design?: unknown } & Record<
        string,
        unknown
      >;
      const withName = Object.fromEntries(
        Object.entries({ ...(design && typeof design === "object" ? design : {}), name }).filter(([, v]) => v != null),
      );
      const input = parseInput(StudioRenderInput, { ...fromGraphQLInput(StudioRenderInput, rest), design: withName });
      const accepted = await createStudioRender(ctx.app, principalOf(ctx).orgId, input, {
        idempotencyKey: args.idempotencyKey ?? undefined,
        requestId: ctx.requestId,
      });
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);

const DesignGroupRenderInputRef = builder.inputType("DesignGroupRenderInput", {
  fields: (t) =>
    zodInputFields(t, GroupRenderInput, {
      // The group's one event is a REST-only option for now; send_to is refused on groups.
      omit: ["webhook_url", "send_to"],
      descriptions: { design_group_id: "A saved design group; or give templateIds" },
    }),
});

builder.mutationField("createDesignGroup", (t) =>
  t.field({
    type: JobRef,
    description:
      "Render every template of a design group with one set of modifications (POST /api/v1/design-groups/create). Answers with the group job; its items follow.",
    errors: { types: CREATE_JOB_ERRORS, directResult: true, union: { name: "CreateDesignGroupResult" } },
    args: {
      input: t.arg({ type: DesignGroupRenderInputRef, required: true }),
      idempotencyKey: t.arg.string(idempotencyKeyArg),
    },
    resolve: async (_root, args, ctx) => {
      const input = parseInput(GroupRenderInput, fromGraphQLInput(GroupRenderInput, args.input));
      const accepted = await createGroupRender(ctx.app, principalOf(ctx).orgId, input, {
        idempotencyKey: args.idempotencyKey ?? undefined,
        requestId: ctx.requestId,
      });
      return await viewOf(ctx.app, accepted.job);
    },
  }),
);
