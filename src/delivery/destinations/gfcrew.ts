// send_to GFcrew. Its API is not public; this connector sends:
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
import { displayUrl } from "../../net/guarded-http.js";
import type { GfcrewSendTo } from "../../views/send-to.js";
import { isSuccess, redirectNote } from "../outbound.js";
import {
  headerSafe,
  httpFailure,
  isRecord,
  parseJson,
  post,
  type DeliveryFile,
  type DestinationResult,
  type SendFileOptions,
} from "./destination.js";

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
    createdAt instanceof Date
      ? createdAt.toISOString()
      : typeof createdAt === "string" && createdAt
        ? createdAt
        : new Date().toISOString();
  return meta;
}

/** The multipart body and its Content-Type (with boundary), as sent to GFcrew. */
async function gfcrewMultipart(dest: GfcrewSendTo, file: DeliveryFile): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(file.bytes)], { type: file.contentType }), file.filename);
  form.append("metadata", JSON.stringify(gfcrewMetadata(dest, file)));
  const encoded = new Response(form);
  const contentType = encoded.headers.get("content-type");
  if (!contentType) throw new Error("multipart serialisation produced no content type");
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType };
}

export async function sendToGfcrew(
  dest: GfcrewSendTo,
  file: DeliveryFile,
  opts: SendFileOptions,
): Promise<DestinationResult> {
  const label = `gfcrew ${displayUrl(dest.endpoint)}`;
  const { body, contentType } = await gfcrewMultipart(dest, file);
  const res = await post(
    label,
    dest.endpoint,
    {
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
  if (isSuccess(res.status)) {
    const id = isRecord(json) ? json.id : undefined;
    return { identifiers: typeof id === "string" || typeof id === "number" ? { gfcrew_id: String(id) } : {} };
  }
  const detail = isRecord(json)
    ? [json.error, json.message].find((v): v is string => typeof v === "string" && v !== "")
    : undefined;
  throw httpFailure(
    label,
    res,
    `HTTP ${res.status}${detail ? ` ${detail.slice(0, 200)}` : ""}${redirectNote(res.status)}`,
  );
}
