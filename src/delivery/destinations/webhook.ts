// send_to webhook: the rendered image POSTed to the caller's URL, signed with the organisation's
// Standard Webhooks secret (src/delivery/signing.ts) so the receiver can tell it came from us.
// (Webhook *events*, JSON about a job, are src/delivery/webhook-events.ts.)
//
// The image travels base64-encoded inside a JSON body rather than as raw bytes. The reference
// verifiers (`standardwebhooks`, `svix`) turn the body into a string before hashing, which replaces
// every invalid UTF-8 sequence of a PNG or JPEG with U+FFFD, so raw image bytes never verify with
// them; signing that lossy string instead would leave the replaced bytes unauthenticated, and
// `standardwebhooks` also JSON-parses the body it verified. A JSON body is plain ASCII: every
// verifier hashes exactly the bytes we sent and signed. See docs/delivery.md#send_to.
import { displayUrl } from "../../net/guarded-http.js";
import type { WebhookSendTo } from "../../views/send-to.js";
import { isSuccess, redirectNote } from "../outbound.js";
import { webhookHeaders } from "../signing.js";
import {
  DestinationError,
  headerSafe,
  httpFailure,
  post,
  type DeliveryFile,
  type DestinationResult,
  type SendFileOptions,
} from "./destination.js";

/** The `type` of the image message, beside the job events' `render.completed` etc. */
const IMAGE_MESSAGE_TYPE = "render.image";

/** The webhook-id of a job's event: `msg_<jobId>` (characters other than [A-Za-z0-9_-] become "_"). */
export function webhookMessageId(jobId: string): string {
  return `msg_${jobId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/**
 * The webhook-id of a job's image: its own message, so a receiver deduplicating on webhook-id (as
 * the spec intends) does not drop the job event that follows it, or the image.
 */
function imageMessageId(jobId: string): string {
  return `${webhookMessageId(jobId)}_image`;
}

/** The JSON body carrying the image (see the header comment for why not the raw bytes). */
function imageMessageBody(file: DeliveryFile): string {
  const templateId = file.metadata.template_id;
  return JSON.stringify({
    type: IMAGE_MESSAGE_TYPE,
    job_id: file.jobId,
    ...(typeof templateId === "string" ? { template_id: templateId } : {}),
    filename: file.filename,
    content_type: file.contentType,
    size_bytes: file.bytes.length,
    data: file.bytes.toString("base64"),
  });
}

export async function sendToWebhook(
  dest: WebhookSendTo,
  file: DeliveryFile,
  opts: SendFileOptions,
): Promise<DestinationResult> {
  const label = `webhook ${displayUrl(dest.url)}`;
  const body = imageMessageBody(file);
  let signed;
  try {
    const ts = opts.timestampSeconds ?? Math.floor(Date.now() / 1000);
    signed = webhookHeaders(opts.signingSecrets, opts.webhookMsgId ?? imageMessageId(file.jobId), ts, body);
  } catch (err) {
    throw new DestinationError(`${label}: ${(err as Error).message}`, { retryable: false, cause: err });
  }
  const res = await post(
    label,
    dest.url,
    {
      headers: {
        "content-type": "application/json",
        ...signed,
        "x-templified-job-id": headerSafe(file.jobId),
        "x-templified-filename": headerSafe(file.filename),
      },
      body,
    },
    opts,
  );
  if (isSuccess(res.status)) return { identifiers: { delivery_status: String(res.status) } };
  throw httpFailure(label, res, `HTTP ${res.status}${redirectNote(res.status)}`);
}
