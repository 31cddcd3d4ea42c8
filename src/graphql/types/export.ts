// exportDesign: render a saved template or a design and send it to one destination, the domain
// call behind POST /api/v1/studio/export/* (src/delivery/export.ts). Its input is derived from the
// routes' schema (ExportRequest); the destination is a send_to, as JSON.
import { SendTo } from "../../views/send-to.js";
import { exportDesign, type ExportResult } from "../../delivery/export.js";
import { builder, principalOf } from "../builder.js";
import { fromGraphQLInput, idempotencyKeyArg, parseInput, zodInputFields } from "../inputs.js";
import { CREATE_JOB_ERRORS } from "./errors.js";
import "./render-inputs.js";
import { ExportRequest } from "../../views/requests.js";

const ExportDesignInputRef = builder.inputType("ExportDesignInput", {
  fields: (t) => ({
    ...zodInputFields(t, ExportRequest, {
      descriptions: {
        template_id: "A saved template; or give design",
        design: "A template document to save and render",
        async: "Answer at once (queued) instead of waiting for the render and the send",
      },
    }),
    destination: t.field({
      type: "JSON",
      required: true,
      description: 'A send_to destination, e.g. {"type":"dropbox","access_token":"…","path":"/renders"}',
    }),
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
      idempotencyKey: t.arg.string(idempotencyKeyArg),
    },
    resolve: async (_root, args, ctx) => {
      const { destination, design, ...rest } = args.input as { destination: unknown; design?: unknown } & Record<
        string,
        unknown
      >;
      // A design that is not an object is ignored (as if absent), so templateId alone decides.
      const request = parseInput(ExportRequest, {
        ...fromGraphQLInput(ExportRequest, rest),
        ...(design && typeof design === "object" ? { design } : {}),
      });
      return exportDesign(
        ctx.app,
        principalOf(ctx).orgId,
        request,
        parseInput(SendTo, destination, "input.destination"),
        {
          idempotencyKey: args.idempotencyKey ?? undefined,
          requestId: ctx.requestId,
          waitMs: ctx.app.config.SYNC_TIMEOUT_MS,
        },
      );
    },
  }),
);
