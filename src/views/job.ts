// The job and webhook-attempt bodies the REST API answers, as zod schemas. The server types its
// views with them (src/jobs/view.ts, src/delivery/webhook-events.ts) and the published client
// infers its types from them (src/client/types.ts), so the two cannot drift. This module imports
// zod only: the client's build compiles it without pulling in Fastify, Prisma or BullMQ.
import { z } from "zod";

/** A job's life: `pending` → `processing` → `complete` | `failed`. */
export const JobStatus = z.enum(["pending", "processing", "complete", "failed"]);

/** A complete job's send_to progress: `pending` → `delivering` → `delivered` | `failed`. */
export const SendToStatus = z.enum(["pending", "delivering", "delivered", "failed"]);

/** One render of a design group job, as listed in the group's poll body. */
export const JobItemView = z.object({
  job_id: z.string(),
  template_id: z.string().nullable(),
  status: JobStatus,
  output_url: z.string().nullable(),
  render_ms: z.number().int().nullable(),
  error: z.string().nullable(),
  /** When the retention policy deleted this item's output (its output_url then answers 410). */
  output_expired_at: z.string().optional(),
});

/**
 * A job: the poll body of `GET /api/v1/create/:job_id`. Fields that do not apply yet are absent
 * (never null).
 */
export const JobView = z.object({
  job_id: z.string(),
  status: JobStatus,
  template_id: z.string().optional(),
  /** Group jobs rendered from a saved design group. */
  design_group_id: z.string().optional(),
  /** Complete jobs (a group: its first template's output). */
  output_url: z.string().optional(),
  /** Complete group jobs: every item's output, in the group's template order. */
  output_urls: z.array(z.string()).optional(),
  /** Complete jobs: milliseconds spent rendering and storing (not queueing). */
  render_ms: z.number().int().optional(),
  /**
   * Complete jobs whose output the retention policy (OUTPUT_RETENTION_DAYS) deleted: when. The job
   * is still listed and output_url still given, but fetching it answers 410. A group: when the
   * first of its items' outputs was deleted.
   */
  output_expired_at: z.string().optional(),
  /** Failed jobs. */
  error: z.string().optional(),
  created_at: z.string(),
  /** Complete or failed jobs. */
  completed_at: z.string().optional(),
  /** Complete jobs with a send_to. */
  send_to_status: SendToStatus.optional(),
  /** When the send_to failed. */
  send_to_error: z.string().optional(),
  /** The destination's identifiers once delivered (Dropbox: dropbox_file_id, dropbox_path). */
  send_to_result: z.record(z.string(), z.string()).optional(),
  /** Group jobs: each item's state. */
  items: z.array(JobItemView).optional(),
});

/** One webhook attempt (`GET /api/v1/create/:job_id/deliveries`). */
export const WebhookAttemptView = z.object({
  event_id: z.string(),
  type: z.string(),
  url: z.string(),
  attempt: z.number().int(),
  status_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  error: z.string().nullable(),
  created_at: z.string(),
});

/** The contract's 202: the job was accepted and goes on; poll `poll_url` (a path on the API). */
export const Accepted = z.object({
  job_id: z.string(),
  /** `pending` when just accepted; a sync wait that ran out answers the job's status at that moment. */
  status: JobStatus,
  poll_url: z.string(),
  /** Studio create-and-render: the template the design was saved as. */
  template_id: z.string().optional(),
});

/** A Studio export that was queued (202): only the job id is known yet. */
export const ExportQueued = z.object({ ok: z.literal(true), async: z.literal(true), job_id: z.string() });

/**
 * A Studio export that finished within the wait (200): `ok` false with `error` when the render or
 * the send failed; otherwise the destination's identifiers beside `outputUrl` (loose: a
 * destination may name others).
 */
export const ExportDone = z.looseObject({
  ok: z.boolean(),
  async: z.literal(false),
  job_id: z.string(),
  outputUrl: z.string().optional(),
  error: z.string().optional(),
  /** Dropbox. */
  dropbox_file_id: z.string().optional(),
  /** Dropbox. */
  dropbox_path: z.string().optional(),
  /** GFcrew. */
  gfcrew_id: z.string().optional(),
  /** Webhook: the receiver's HTTP status. */
  delivery_status: z.string().optional(),
});

/** The Studio export answer: branch on `async`, as the contract says. */
export const ExportResult = z.discriminatedUnion("async", [ExportQueued, ExportDone]);
