// What a request's `send_to` may be: one zod schema per destination, as the REST contract spells
// its fields. The senders live beside each other in src/delivery/destinations/ (one module per
// destination); the schemas are here, importing zod only, so the published client infers its
// send_to types from the same definitions the server validates with.
import { z } from "zod";
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
    .refine(
      (p) => !Array.from(p).some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
      "must not contain control characters",
    ),
  mode: z.enum(["add", "overwrite"]).default("add"),
  autorename: z.boolean().optional(),
});
export type DropboxSendTo = z.infer<typeof DropboxSendTo>;

export const WebhookSendTo = z.object({
  type: z.literal("webhook"),
  url: HttpUrl,
});
export type WebhookSendTo = z.infer<typeof WebhookSendTo>;

export const GfcrewSendTo = z.object({
  type: z.literal("gfcrew"),
  endpoint: HttpUrl,
  api_key: z.string().min(1).max(4096),
  project: z.string().min(1).max(200).optional(),
  tags: z.array(z.string().min(1).max(100)).max(50).optional(),
});
export type GfcrewSendTo = z.infer<typeof GfcrewSendTo>;

/** A destination the organisation saved (src/delivery/presets.ts), named by id. */
export const PresetSendTo = z.object({
  type: z.literal("preset"),
  preset_id: z.string().min(1).max(100),
});
export type PresetSendTo = z.infer<typeof PresetSendTo>;

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
