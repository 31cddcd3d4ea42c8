// Studio export: render a saved template or a design, send it to one destination, and answer in
// the contract's two shapes. Queued ({"ok":true,"async":true,"job_id"}) when the caller asks for
// async or the work outlasts the wait; otherwise done ({"ok","async":false,"job_id","outputUrl",
// ...the destination's identifiers}, ok false with `error` when the render or the send failed).
import { z } from "zod";
import { createRender, createStudioRender, type AcceptOptions, type Accepted } from "../jobs/accept.js";
import { ValidationError } from "../errors.js";
import type { JobsDeps } from "../jobs/service.js";
import { waitForFinal } from "../jobs/watch.js";
import { HttpUrl, OutputOptions } from "../templates/document.js";
import { Modification } from "../templates/modifications.js";
import { TemplateInput } from "../templates/service.js";
import type { SendTo } from "./destinations/index.js";

/** What to render and how to answer; the destination comes separately. */
export const ExportRequest = OutputOptions.extend({
  template_id: z.string().min(1).max(100).optional(),
  design: TemplateInput.optional(),
  modifications: z.array(Modification).max(500).default([]),
  webhook_url: HttpUrl.optional(),
  /** true: answer at once (queued) instead of waiting for the render and the send. */
  async: z.boolean().default(false),
});
export type ExportRequest = z.infer<typeof ExportRequest>;

export type ExportResult =
  | { ok: true; async: true; job_id: string }
  | { ok: boolean; async: false; job_id: string; outputUrl?: string; error?: string; [identifier: string]: unknown };

export async function exportDesign(
  deps: JobsDeps,
  orgId: string,
  request: ExportRequest,
  destination: SendTo,
  opts: AcceptOptions & { waitMs: number; signal?: AbortSignal },
): Promise<ExportResult> {
  const { template_id, design, async, ...rest } = request;
  const common = { ...rest, send_to: destination };
  let accepted: Accepted;
  if (template_id && !design) accepted = await createRender(deps, orgId, { template_id, ...common }, opts);
  else if (design && !template_id) accepted = await createStudioRender(deps, orgId, { design, ...common }, opts);
  else throw new ValidationError("give either template_id or design", ["template_id"]);

  const queued = { ok: true as const, async: true as const, job_id: accepted.job.id };
  if (async) return queued;
  const waited = await waitForFinal(deps, orgId, accepted.job.id, opts.waitMs, opts.signal);
  if (!waited.settled) return queued;
  const final = waited.view;
  const delivered = final.status === "complete" && final.send_to_status === "delivered";
  return {
    ok: delivered,
    async: false,
    job_id: final.job_id,
    ...(final.output_url ? { outputUrl: final.output_url } : {}),
    ...(delivered ? (final.send_to_result ?? {}) : { error: final.error ?? final.send_to_error ?? "export failed" }),
  };
}
