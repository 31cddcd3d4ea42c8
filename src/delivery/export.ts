// Studio export: render a saved template or a design, send it to one destination, and answer in
// the contract's two shapes. Queued ({"ok":true,"async":true,"job_id"}) when the caller asks for
// async or the work outlasts the wait; otherwise done ({"ok","async":false,"job_id","outputUrl",
// ...the destination's identifiers}, ok false with `error` when the render or the send failed).
import type { z } from "zod";
import type { ExportResult as ExportResultView } from "../views/job.js";
import { createRender, createStudioRender, type AcceptOptions, type Accepted } from "../jobs/accept.js";
import { ValidationError } from "../errors.js";
import type { JobsDeps } from "../jobs/service.js";
import { waitForFinal } from "../jobs/watch.js";
import type { SendTo } from "../views/send-to.js";
import { ExportRequest } from "../views/requests.js";

export type ExportResult = z.infer<typeof ExportResultView>;

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
