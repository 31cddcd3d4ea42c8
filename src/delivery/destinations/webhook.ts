// send_to webhook: the rendered image itself POSTed to the caller's URL, signed with the
// organisation's Standard Webhooks secret (src/delivery/signing.ts) so the receiver can tell it
// came from us. (Webhook *events*, JSON about a job, are src/delivery/webhook-events.ts.)
import { z } from "zod";
import { displayUrl } from "../../net/guarded-http.js";
import { HttpUrl } from "../../templates/document.js";
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

export const WebhookSendTo = z.object({
  type: z.literal("webhook"),
  url: HttpUrl,
});
export type WebhookSendTo = z.infer<typeof WebhookSendTo>;

/** The default webhook-id for a job's file: `msg_<jobId>` (characters other than [A-Za-z0-9_-] become "_"). */
export function webhookMessageId(jobId: string): string {
  return `msg_${jobId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export async function sendToWebhook(
  dest: WebhookSendTo,
  file: DeliveryFile,
  opts: SendFileOptions,
): Promise<DestinationResult> {
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
  if (isSuccess(res.status)) return { identifiers: { delivery_status: String(res.status) } };
  throw httpFailure(label, res, `HTTP ${res.status}${redirectNote(res.status)}`);
}
