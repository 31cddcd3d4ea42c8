// Where a finished render may go (`send_to`): one module per destination, registered here. A
// destination is a zod schema (its `type` and fields, as the REST contract spells them) and, unless
// it only names another destination (a preset), a function that sends one file. Adding one: a
// module beside these, and its schema and sender listed below.
import { z } from "zod";
import { DestinationError, type DeliveryFile, type DestinationResult, type SendFileOptions } from "./destination.js";
import { DropboxSendTo, sendToDropbox } from "./dropbox.js";
import { GfcrewSendTo, sendToGfcrew } from "./gfcrew.js";
import { PresetSendTo } from "./preset.js";
import { sendToWebhook, WebhookSendTo } from "./webhook.js";

export {
  DestinationError,
  isDestinationError,
  type DeliveryFile,
  type DestinationResult,
  type SendFileOptions,
} from "./destination.js";

/** Each send_to type's schema. The Studio export routes (one per type) are built from this too. */
export const SEND_TO_TYPES = {
  dropbox: DropboxSendTo,
  webhook: WebhookSendTo,
  gfcrew: GfcrewSendTo,
  preset: PresetSendTo,
} as const;

/** A destination that can be sent to as it is (not a preset). */
export const DirectSendTo = z.discriminatedUnion("type", [DropboxSendTo, WebhookSendTo, GfcrewSendTo]);
export type DirectSendTo = z.infer<typeof DirectSendTo>;
/** What a request's `send_to` may be. */
export const SendTo = z.discriminatedUnion("type", [DropboxSendTo, WebhookSendTo, GfcrewSendTo, PresetSendTo]);
export type SendTo = z.infer<typeof SendTo>;

export function isDirectSendTo(dest: SendTo): dest is DirectSendTo {
  return dest.type !== "preset";
}

type Sender<T extends DirectSendTo["type"]> = (
  dest: Extract<DirectSendTo, { type: T }>,
  file: DeliveryFile,
  opts: SendFileOptions,
) => Promise<DestinationResult>;

const SENDERS: { [T in DirectSendTo["type"]]: Sender<T> } = {
  dropbox: sendToDropbox,
  webhook: sendToWebhook,
  gfcrew: sendToGfcrew,
};

/** Send one rendered file to a destination. Throws DestinationError. */
export async function sendFile(
  dest: DirectSendTo,
  file: DeliveryFile,
  opts: SendFileOptions,
): Promise<DestinationResult> {
  const send = SENDERS[dest.type] as Sender<DirectSendTo["type"]> | undefined;
  if (!send)
    throw new DestinationError(`unknown destination type ${String((dest as { type?: unknown }).type)}`, {
      retryable: false,
    });
  return send(dest, file, opts);
}
