// send_to Dropbox: POST https://content.dropboxapi.com/2/files/upload
// (https://www.dropbox.com/developers/documentation/http/documentation#files-upload) with the
// caller's access token; the answer's file id and path become the delivery's identifiers.
import { posix } from "node:path";
import type { DropboxSendTo } from "../../views/send-to.js";
import { isSuccess, parseRetryAfter, redirectNote, retryableStatus } from "../outbound.js";
import {
  DestinationError,
  isRecord,
  parseJson,
  post,
  type DeliveryFile,
  type DestinationResult,
  type SendFileOptions,
} from "./destination.js";

const DEFAULT_DROPBOX_CONTENT_URL = "https://content.dropboxapi.com";
/** Dropbox's limit for a single /2/files/upload call (larger files need upload sessions). */
const DROPBOX_MAX_UPLOAD_BYTES = 150 * 1024 * 1024;

/** `path` when it already names a file with the file's extension, else `path/filename`. */
export function dropboxTargetPath(path: string, filename: string): string {
  const name = filename.replace(/[/\\]/g, "_");
  const ext = posix.extname(name).toLowerCase();
  if (ext && !path.endsWith("/") && path.toLowerCase().endsWith(ext)) return path;
  return `${path.replace(/\/+$/, "")}/${name}`;
}

/** JSON for an HTTP header: 0x7F and every non-ASCII character escaped as \uXXXX (Dropbox requires it). */
function httpHeaderJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Response body as text for messages: one line, bounded. */
function bodySnippet(body: Buffer, max = 200): string {
  const text = body.toString("utf8").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

export async function sendToDropbox(
  dest: DropboxSendTo,
  file: DeliveryFile,
  opts: SendFileOptions,
): Promise<DestinationResult> {
  const label = "dropbox";
  if (file.bytes.length > DROPBOX_MAX_UPLOAD_BYTES) {
    throw new DestinationError(
      `${label}: file is ${file.bytes.length} bytes, more than the ${DROPBOX_MAX_UPLOAD_BYTES}-byte upload limit`,
      { retryable: false },
    );
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
      headers: {
        authorization: `Bearer ${dest.access_token}`,
        "content-type": "application/octet-stream",
        "dropbox-api-arg": httpHeaderJson(arg),
      },
      body: file.bytes,
    },
    opts,
  );
  if (isSuccess(res.status)) {
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
  const summary =
    isRecord(err) && typeof err.error_summary === "string" ? err.error_summary.replace(/\/?\.*$/, "") : "";
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
