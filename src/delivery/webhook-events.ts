// Webhook events: when a job is final, its poll body with a `type` (render.completed,
// design_group.failed, ...) is POSTed to the job's webhook_url, signed (Standard Webhooks), with
// the same webhook-id on every retry so receivers can drop duplicates. Every attempt is recorded
// and listed to the organisation; a redelivery sends the event again on a fresh schedule.
import { performance } from "node:perf_hooks";
import type { z } from "zod";
import type { RateLimits } from "../auth/rate-limiter.js";
import type { Db } from "../db/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { Job } from "../generated/prisma/client.js";
import { GuardedRequestError, type GuardedResponse } from "../net/guarded-http.js";
import type { DeliverQueue } from "../queue/deliver-queue.js";
import type { WebhookAttemptView as WebhookAttemptViewSchema } from "../views/job.js";
import { findJob, listWebhookAttemptsOfJob, setWebhookStatus } from "./delivery-repository.js";
import {
  isSuccess,
  parseRetryAfter,
  postOutbound,
  redirectNote,
  retryableStatus,
  transportRetryable,
} from "./outbound.js";
import { webhookHeaders } from "./signing.js";

const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;

/** The event's type: `render.completed`, `render.failed`, `design_group.completed`, ... */
export function webhookEventType(job: Job): string {
  const subject = job.kind === "group" ? "design_group" : "render";
  return `${subject}.${job.status === "complete" ? "completed" : "failed"}`;
}

export interface WebhookEventOptions {
  /** webhook-id: the same for every retry of one event. */
  msgId: string;
  /** webhook-timestamp (seconds); default now (fresh for each attempt). */
  timestampSeconds?: number;
  signingSecrets: string[];
  allowPrivateNetworks: boolean;
  /** Default 15 000 ms. */
  timeoutMs?: number;
}

export interface WebhookEventOutcome {
  /** A 2xx answer. */
  ok: boolean;
  /** null when no answer arrived (refused address, network error, timeout). */
  statusCode: number | null;
  durationMs: number;
  /** The reason when not ok: `HTTP 503`, `timed out after 15000 ms`, `address 10.0.0.1 is not public`... */
  error: string | null;
  /** Network errors, timeouts, 408, 429 and 5xx. */
  retryable: boolean;
  /** From Retry-After, when the receiver sent one. */
  retryAfterMs: number | null;
  /** 410 Gone: the receiver asks for no more deliveries to this endpoint. */
  gone: boolean;
}

/**
 * POST a JSON event, signed with Standard Webhooks headers. Never throws: every attempt's outcome
 * is returned so the caller can record it.
 */
export async function postWebhookEvent(
  url: string,
  payload: unknown,
  opts: WebhookEventOptions,
): Promise<WebhookEventOutcome> {
  const started = performance.now();
  const outcome = (o: Partial<WebhookEventOutcome>): WebhookEventOutcome => ({
    ok: false,
    statusCode: null,
    durationMs: Math.round(performance.now() - started),
    error: null,
    retryable: false,
    retryAfterMs: null,
    gone: false,
    ...o,
  });
  let res: GuardedResponse;
  try {
    const body = JSON.stringify(payload) ?? "null";
    const ts = opts.timestampSeconds ?? Math.floor(Date.now() / 1000);
    res = await postOutbound(url, {
      headers: { "content-type": "application/json", ...webhookHeaders(opts.signingSecrets, opts.msgId, ts, body) },
      body,
      timeoutMs: opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
      allowPrivateNetworks: opts.allowPrivateNetworks,
    });
  } catch (err) {
    if (err instanceof GuardedRequestError)
      return outcome({ statusCode: err.status ?? null, error: err.reason, retryable: transportRetryable(err) });
    // Not a transport failure: an unserialisable payload or a bad signing secret.
    return outcome({ error: err instanceof Error ? err.message : String(err) });
  }
  const { status } = res;
  if (isSuccess(status)) return outcome({ ok: true, statusCode: status, durationMs: res.durationMs });
  return outcome({
    statusCode: status,
    durationMs: res.durationMs,
    error: `HTTP ${status}${redirectNote(status)}`,
    retryable: retryableStatus(status),
    retryAfterMs: parseRetryAfter(res.headers["retry-after"]) ?? null,
    gone: status === 410,
  });
}

/** The shape is a zod schema in src/views/job.ts, shared with the published client. */
export type WebhookAttemptView = z.infer<typeof WebhookAttemptViewSchema>;

export async function listWebhookAttempts(db: Db, orgId: string, jobId: string): Promise<WebhookAttemptView[]> {
  const job = await findJob(db, jobId);
  if (!job || job.orgId !== orgId) throw new NotFoundError("job not found");
  return (await listWebhookAttemptsOfJob(db, jobId)).map((r) => ({
    event_id: r.eventId,
    type: r.eventType,
    url: r.url,
    attempt: r.attempt,
    status_code: r.statusCode,
    duration_ms: r.durationMs,
    error: r.error,
    created_at: r.createdAt.toISOString(),
  }));
}

/**
 * Sends the job's final event again (same webhook-id), on a fresh retry schedule. Limited per
 * organisation (REDELIVER_MAX_PER_HOUR): each redelivery is a full retry schedule of outbound
 * requests, so an unlimited one would turn us into a request amplifier.
 */
export async function redeliverWebhook(
  deps: { prisma: Db; deliverQueue: DeliverQueue; limits: RateLimits },
  orgId: string,
  jobId: string,
): Promise<void> {
  const job = await findJob(deps.prisma, jobId);
  if (!job || job.orgId !== orgId) throw new NotFoundError("job not found");
  if (!job.webhookUrl) throw new ValidationError("this job has no webhook_url", ["webhook_url"]);
  if (job.status !== "complete" && job.status !== "failed")
    throw new ValidationError(`the job is ${job.status}: its event is sent once it is final`, ["status"]);
  await deps.limits.redeliveries.enforce(`org:${orgId}`);
  await setWebhookStatus(deps.prisma, jobId, "pending");
  await deps.deliverQueue.enqueueWebhook(jobId, Date.now());
}
