// Where finished renders go (`send_to`), and signed webhook events. Every outbound request goes
// through the guarded client (src/net/guarded-http.ts): public addresses only unless
// allowPrivateNetworks, the checked address is the one connected to, and POSTs never follow
// redirects (a 3xx is a failed delivery).
import { posix } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { displayUrl, guardedRequest, GuardedRequestError, type GuardedResponse } from "../net/guarded-http.js";
import { webhookHeaders } from "./signing.js";

export const DEFAULT_DROPBOX_CONTENT_URL = "https://content.dropboxapi.com";
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;
/** Responses of destinations are small JSON documents at most; more is not read. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Dropbox's limit for a single /2/files/upload call (larger files need upload sessions). */
const DROPBOX_MAX_UPLOAD_BYTES = 150 * 1024 * 1024;
const USER_AGENT = "Templified-Delivery/0.1 (+https://github.com/templified)";

// ---------------------------------------------------------------------------------------------
// send_to

import { HttpUrl } from "../templates/document.js";

export const DropboxSendTo = z.object({
  type: z.literal("dropbox"),
  access_token: z.string().min(1).max(4096),
  /** A folder (the file name is appended) or a full file path ending with the file's extension. */
  path: z
    .string()
    .min(1)
    .max(1000)
    .startsWith("/", 'must start with "/"')
    .refine((p) => !Array.from(p).some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), "must not contain control characters"),
  mode: z.enum(["add", "overwrite"]).default("add"),
  autorename: z.boolean().optional(),
});
export const WebhookSendTo = z.object({
  type: z.literal("webhook"),
  url: HttpUrl,
});
export const GfcrewSendTo = z.object({
  type: z.literal("gfcrew"),
  endpoint: HttpUrl,
  api_key: z.string().min(1).max(4096),
  project: z.string().min(1).max(200).optional(),
  tags: z.array(z.string().min(1).max(100)).max(50).optional(),
});
/** A saved destination of the organisation; the caller resolves it before sending. */
export const PresetSendTo = z.object({
  type: z.literal("preset"),
  preset_id: z.string().min(1).max(100),
});
export const DirectSendTo = z.discriminatedUnion("type", [DropboxSendTo, WebhookSendTo, GfcrewSendTo]);
export const SendTo = z.discriminatedUnion("type", [DropboxSendTo, WebhookSendTo, GfcrewSendTo, PresetSendTo]);
export type DropboxSendTo = z.infer<typeof DropboxSendTo>;
export type WebhookSendTo = z.infer<typeof WebhookSendTo>;
export type GfcrewSendTo = z.infer<typeof GfcrewSendTo>;
export type PresetSendTo = z.infer<typeof PresetSendTo>;
export type DirectSendTo = z.infer<typeof DirectSendTo>;
export type SendTo = z.infer<typeof SendTo>;

export function isDirectSendTo(dest: SendTo): dest is DirectSendTo {
  return dest.type !== "preset";
}

export interface DeliveryFile {
  bytes: Buffer;
  contentType: string;
  filename: string;
  jobId: string;
  /** Free-form; gfcrew reads template_id (or templateId), width, height and created_at from it. */
  metadata: Record<string, unknown>;
}

export interface DestinationResult {
  identifiers: Record<string, string>;
}

/** A failed delivery. `message` is meant for people: `dropbox: 401 invalid_access_token`. */
export class DestinationError extends Error {
  override readonly name = "DestinationError";
  /** Network errors, timeouts, 408/429 and 5xx: the same delivery may succeed later. */
  readonly retryable: boolean;
  /** The HTTP status when the destination answered. */
  readonly statusCode?: number;
  /** From Retry-After (seconds or an HTTP date), when the destination sent one. */
  readonly retryAfterMs?: number;

  constructor(message: string, opts: { retryable: boolean; statusCode?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryable = opts.retryable;
    if (opts.statusCode !== undefined) this.statusCode = opts.statusCode;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isDestinationError(err: unknown): err is DestinationError {
  return err instanceof DestinationError;
}

export interface SendFileOptions {
  /** Default https://content.dropboxapi.com (tests point it at a fake). */
  dropboxContentUrl?: string;
  /** Standard Webhooks secrets for webhook destinations (several while rotating). */
  signingSecrets: string[];
  allowPrivateNetworks: boolean;
  /** Deadline for one request, body included. */
  timeoutMs: number;
  /** webhook-id for webhook destinations. Default `msg_<jobId>` (stable across retries of a job). */
  webhookMsgId?: string;
  /** webhook-timestamp (seconds). Default now. */
  timestampSeconds?: number;
}

/** Send one rendered file to a destination. Throws DestinationError. */
export async function sendFile(dest: DirectSendTo, file: DeliveryFile, opts: SendFileOptions): Promise<DestinationResult> {
  switch (dest.type) {
    case "dropbox":
      return sendToDropbox(dest, file, opts);
    case "webhook":
      return sendToWebhook(dest, file, opts);
    case "gfcrew":
      return sendToGfcrew(dest, file, opts);
    default: {
      const never: never = dest;
      throw new DestinationError(`unknown destination type ${(never as { type?: unknown }).type as string}`, { retryable: false });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** 408, 429 and 5xx may succeed later; other statuses will not. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; undefined when absent or invalid. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "1.5", "-3": not a date either
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** A header value that is printable ASCII as is, percent-encoded (UTF-8) otherwise. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** JSON for an HTTP header: 0x7F and every non-ASCII character escaped as \uXXXX (Dropbox requires it). */
export function httpHeaderJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Response body as text for messages: one line, bounded. */
function bodySnippet(body: Buffer, max = 200): string {
  const text = body.toString("utf8").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface SendRequest {
  method: "POST";
  headers: Record<string, string>;
  body: Buffer | string;
}

/**
 * One POST through the guarded client (no redirects). A transport failure or refusal becomes a
 * DestinationError `<label>: <reason>`; a 2xx whose body was over the read limit still counts as
 * delivered (returned with an empty body). Any other status is returned for the caller to judge.
 */
async function post(label: string, url: string, req: SendRequest, opts: { allowPrivateNetworks: boolean; timeoutMs: number }): Promise<GuardedResponse> {
  try {
    return await guardedRequest(url, {
      ...req,
      headers: { "user-agent": USER_AGENT, ...req.headers },
      timeoutMs: opts.timeoutMs,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      allowPrivateNetworks: opts.allowPrivateNetworks,
      maxRedirects: 0,
    });
  } catch (err) {
    if (err instanceof GuardedRequestError) {
      if (err.kind === "too_large" && err.status !== undefined && err.status >= 200 && err.status <= 299) {
        return { status: err.status, headers: {}, body: Buffer.alloc(0), durationMs: 0, finalUrl: url, redirects: 0 };
      }
      const retryable = err.kind === "network" || err.kind === "timeout" || err.kind === "aborted";
      throw new DestinationError(`${label}: ${err.reason}`, { retryable, statusCode: err.status, cause: err });
    }
    throw new DestinationError(`${label}: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err });
  }
}

function httpFailure(label: string, res: GuardedResponse, detail: string): DestinationError {
  return new DestinationError(`${label}: ${detail}`, {
    retryable: retryableStatus(res.status),
    statusCode: res.status,
    retryAfterMs: parseRetryAfter(res.headers["retry-after"]),
  });
}

function redirectNote(status: number): string {
  return status >= 300 && status <= 399 ? " (redirects are not followed)" : "";
}

// ---------------------------------------------------------------------------------------------
// Dropbox: POST https://content.dropboxapi.com/2/files/upload
// (https://www.dropbox.com/developers/documentation/http/documentation#files-upload)

/** `path` when it already names a file with the file's extension, else `path/filename`. */
export function dropboxTargetPath(path: string, filename: string): string {
  const name = filename.replace(/[/\\]/g, "_");
  const ext = posix.extname(name).toLowerCase();
  if (ext && !path.endsWith("/") && path.toLowerCase().endsWith(ext)) return path;
  return `${path.replace(/\/+$/, "")}/${name}`;
}

async function sendToDropbox(dest: DropboxSendTo, file: DeliveryFile, opts: SendFileOptions): Promise<DestinationResult> {
  const label = "dropbox";
  if (file.bytes.length > DROPBOX_MAX_UPLOAD_BYTES) {
    throw new DestinationError(`${label}: file is ${file.bytes.length} bytes, more than the ${DROPBOX_MAX_UPLOAD_BYTES}-byte upload limit`, { retryable: false });
  }
  const base = (opts.dropboxContentUrl ?? DEFAULT_DROPBOX_CONTENT_URL).replace(/\/+$/, "");
  const arg = {
    path: dropboxTargetPath(dest.path, file.filename),
    mode: dest.mode ?? "add",
    autorename: dest.autorename ?? false,
    mute: false,
  };
  const res = await post(
    label,
    `${base}/2/files/upload`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${dest.access_token}`,
        "content-type": "application/octet-stream",
        "dropbox-api-arg": httpHeaderJson(arg),
      },
      body: file.bytes,
    },
    opts,
  );
  if (res.status >= 200 && res.status <= 299) {
    // FileMetadata: { name, id: "id:...", path_lower, path_display, size, content_hash, rev, ... }.
    // A 2xx means the file is stored, even if the answer cannot be read.
    const meta = parseJson(res.body);
    const identifiers: Record<string, string> = {};
    if (isRecord(meta)) {
      if (typeof meta.id === "string") identifiers.dropbox_file_id = meta.id;
      if (typeof meta.path_display === "string") identifiers.dropbox_path = meta.path_display;
    }
    return { identifiers };
  }
  // Errors: 400 plain text (bad request), 401 auth, 409 endpoint-specific, 429 rate limited,
  // 5xx; 401/409/429 bodies are JSON { error_summary: "path/conflict/file/..", error: {...} }.
  const err = parseJson(res.body);
  // Message: `<status> <error_summary without the trailing "/..">`, else `<status> <body text>`, else `HTTP <status>`.
  const summary = isRecord(err) && typeof err.error_summary === "string" ? err.error_summary.replace(/\/?\.*$/, "") : "";
  const detail = summary || bodySnippet(res.body);
  let retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
  if (retryAfterMs === undefined && isRecord(err) && isRecord(err.error) && typeof err.error.retry_after === "number") {
    retryAfterMs = err.error.retry_after * 1000;
  }
  // path/too_many_write_operations (409) is Dropbox's "try again" for concurrent writes.
  const retryable = retryableStatus(res.status) || summary.includes("too_many_write_operations");
  const message = `${label}: ${detail ? `${res.status} ${detail}` : `HTTP ${res.status}`}${redirectNote(res.status)}`;
  throw new DestinationError(message, { retryable, statusCode: res.status, retryAfterMs });
}

// ---------------------------------------------------------------------------------------------
// Webhook: the image itself, signed (Standard Webhooks)

/** The default webhook-id for a job's file: `msg_<jobId>` (characters other than [A-Za-z0-9_-] become "_"). */
export function webhookMessageId(jobId: string): string {
  return `msg_${jobId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

async function sendToWebhook(dest: WebhookSendTo, file: DeliveryFile, opts: SendFileOptions): Promise<DestinationResult> {
  const label = `webhook ${displayUrl(dest.url)}`;
  let signed;
  try {
    const ts = opts.timestampSeconds ?? Math.floor(Date.now() / 1000);
    signed = webhookHeaders(opts.signingSecrets, opts.webhookMsgId ?? webhookMessageId(file.jobId), ts, file.bytes);
  } catch (err) {
    throw new DestinationError(`${label}: ${(err as Error).message}`, { retryable: false, cause: err });
  }
  const res = await post(
    label,
    dest.url,
    {
      method: "POST",
      headers: {
        "content-type": file.contentType,
        ...signed,
        "x-templified-job-id": headerSafe(file.jobId),
        "x-templified-filename": headerSafe(file.filename),
      },
      body: file.bytes,
    },
    opts,
  );
  if (res.status >= 200 && res.status <= 299) return { identifiers: { delivery_status: String(res.status) } };
  throw httpFailure(label, res, `HTTP ${res.status}${redirectNote(res.status)}`);
}

// ---------------------------------------------------------------------------------------------
// GFcrew. Its API is not public; this connector sends:
//
//   POST <endpoint>
//   Authorization: Bearer <api_key>
//   Accept: application/json
//   Content-Type: multipart/form-data; boundary=...   (serialised by Node's FormData/Response)
//   X-Templified-Job-Id: <job id>
//
//   part "file":     the image bytes, with filename="<filename>" and Content-Type: <image type>
//   part "metadata": a JSON text field:
//     { "job_id": string, "template_id"?: string, "project"?: string, "tags": string[],
//       "width"?: number, "height"?: number, "created_at": ISO 8601 string }
//     template_id, width, height and created_at come from file.metadata (template_id or
//     templateId; created_at or createdAt, else now).
//
// A 2xx answer is a delivery; if it is JSON with an `id` (string or number) that becomes
// identifiers.gfcrew_id. 408/429/5xx are retryable, other statuses not.

function gfcrewMetadata(dest: GfcrewSendTo, file: DeliveryFile): Record<string, unknown> {
  const m = file.metadata;
  const str = (...keys: string[]) => keys.map((k) => m[k]).find((v): v is string => typeof v === "string" && v !== "");
  const num = (key: string) => (typeof m[key] === "number" && Number.isFinite(m[key]) ? m[key] : undefined);
  const createdAt = m.created_at ?? m.createdAt;
  const meta: Record<string, unknown> = { job_id: file.jobId };
  const templateId = str("template_id", "templateId");
  if (templateId !== undefined) meta.template_id = templateId;
  if (dest.project !== undefined) meta.project = dest.project;
  meta.tags = dest.tags ?? [];
  const width = num("width");
  const height = num("height");
  if (width !== undefined) meta.width = width;
  if (height !== undefined) meta.height = height;
  meta.created_at =
    createdAt instanceof Date ? createdAt.toISOString() : typeof createdAt === "string" && createdAt ? createdAt : new Date().toISOString();
  return meta;
}

/** The multipart body and its Content-Type (with boundary), as sent to GFcrew. */
export async function gfcrewMultipart(dest: GfcrewSendTo, file: DeliveryFile): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(file.bytes)], { type: file.contentType }), file.filename);
  form.append("metadata", JSON.stringify(gfcrewMetadata(dest, file)));
  const encoded = new Response(form);
  const contentType = encoded.headers.get("content-type");
  if (!contentType) throw new Error("multipart serialisation produced no content type");
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType };
}

async function sendToGfcrew(dest: GfcrewSendTo, file: DeliveryFile, opts: SendFileOptions): Promise<DestinationResult> {
  const label = `gfcrew ${displayUrl(dest.endpoint)}`;
  const { body, contentType } = await gfcrewMultipart(dest, file);
  const res = await post(
    label,
    dest.endpoint,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${dest.api_key}`,
        accept: "application/json",
        "content-type": contentType,
        "x-templified-job-id": headerSafe(file.jobId),
      },
      body,
    },
    opts,
  );
  const json = parseJson(res.body);
  if (res.status >= 200 && res.status <= 299) {
    const id = isRecord(json) ? json.id : undefined;
    return { identifiers: typeof id === "string" || typeof id === "number" ? { gfcrew_id: String(id) } : {} };
  }
  const detail = isRecord(json) ? [json.error, json.message].find((v): v is string => typeof v === "string" && v !== "") : undefined;
  throw httpFailure(label, res, `HTTP ${res.status}${detail ? ` ${detail.slice(0, 200)}` : ""}${redirectNote(res.status)}`);
}

// ---------------------------------------------------------------------------------------------
// Webhook events (JSON), e.g. job.completed

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
export async function postWebhookEvent(url: string, payload: unknown, opts: WebhookEventOptions): Promise<WebhookEventOutcome> {
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
    res = await guardedRequest(url, {
      method: "POST",
      headers: { "user-agent": USER_AGENT, "content-type": "application/json", ...webhookHeaders(opts.signingSecrets, opts.msgId, ts, body) },
      body,
      timeoutMs: opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      allowPrivateNetworks: opts.allowPrivateNetworks,
      maxRedirects: 0,
    });
  } catch (err) {
    if (err instanceof GuardedRequestError) {
      const status = err.status ?? null;
      if (err.kind === "too_large" && status !== null && status >= 200 && status <= 299) return outcome({ ok: true, statusCode: status });
      const retryable = err.kind === "network" || err.kind === "timeout" || err.kind === "aborted";
      return outcome({ statusCode: status, error: err.reason, retryable });
    }
    // Not a transport failure: an unserialisable payload or a bad signing secret.
    return outcome({ error: err instanceof Error ? err.message : String(err) });
  }
  const { status } = res;
  if (status >= 200 && status <= 299) return outcome({ ok: true, statusCode: status, durationMs: res.durationMs });
  return outcome({
    statusCode: status,
    durationMs: res.durationMs,
    error: `HTTP ${status}${redirectNote(status)}`,
    retryable: retryableStatus(status),
    retryAfterMs: parseRetryAfter(res.headers["retry-after"]) ?? null,
    gone: status === 410,
  });
}

// ---------------------------------------------------------------------------------------------
// Retry schedule

/** Delay before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);

/**
 * The delays (ms) before each delivery attempt. Unset or blank: DEFAULT_RETRY_SCHEDULE. Otherwise
 * a comma-separated list of non-negative whole milliseconds, e.g. "0,1000,60000".
 */
export function parseRetrySchedule(value: string | undefined): number[] {
  if (value === undefined || value.trim() === "") return [...DEFAULT_RETRY_SCHEDULE];
  const parts = value.split(",").map((p) => p.trim());
  const bad = parts.find((p) => !/^\d{1,10}$/.test(p));
  if (bad !== undefined) {
    throw new Error(
      `invalid retry schedule "${value}": ${bad === "" ? "empty entry" : `"${bad}" is not a whole number of milliseconds`}; expected comma-separated milliseconds, e.g. "0,5000,300000"`,
    );
  }
  return parts.map(Number);
}
