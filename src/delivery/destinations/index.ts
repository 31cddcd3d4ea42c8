// Where a finished render may go (`send_to`): one module per destination, registered here. A
// destination is a zod schema (its `type` and fields, as the REST contract spells them: in
// src/views/send-to.ts, shared with the published client) and, unless it only names another
// destination (a preset), a function that sends one file. Adding one: its schema there, a module
// beside these, and its sender listed below.
import type { DirectSendTo, SendTo } from "../../views/send-to.js";
import { DestinationError, type DeliveryFile, type DestinationResult, type SendFileOptions } from "./destination.js";
import { sendToDropbox } from "./dropbox.js";
import { sendToGfcrew } from "./gfcrew.js";
import { sendToWebhook } from "./webhook.js";

export {
  DestinationError,
  isDestinationError,
  type DeliveryFile,
  type DestinationResult,
  type SendFileOptions,
} from "./destination.js";

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
