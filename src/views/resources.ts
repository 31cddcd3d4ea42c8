// The REST API's bodies for design groups, fonts, the account, ledger entries and the webhook
// secret, as zod schemas. The routes answer through them (src/http/responses.ts) and the published
// client infers its types from them (src/client/types.ts), so the two cannot drift. Like
// src/views/job.ts, this module imports zod only, so the client's build does not pull in the server.
import { z } from "zod";

/** An instant, as the API writes it: ISO 8601 in UTC with milliseconds. */
const Timestamp = z.string().meta({ format: "date-time", examples: ["2026-06-12T14:00:00.000Z"] });

export const WebhookSecret = z.object({
  webhook_secret: z.string(),
  previous_secret_expires_at: Timestamp.nullable(),
});

export const DesignGroup = z.object({
  design_group_id: z.string(),
  name: z.string(),
  template_ids: z.array(z.string()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const Font = z.object({
  font_id: z.string(),
  family: z.string(),
  weight: z.number().int(),
  style: z.string(),
  format: z.string(),
  size_bytes: z.number().int(),
  created_at: Timestamp,
});

export const FontList = z.object({
  built_in: z.array(z.object({ family: z.string(), weights: z.array(z.number().int()), styles: z.array(z.string()) })),
  data: z.array(Font),
});

export const Account = z.object({
  org_id: z.string(),
  name: z.string(),
  balance_cents: z.number().int(),
  status: z.enum(["ACTIVE", "SUSPENDED"]),
  prices: z.object({
    standard_cents: z.number().int(),
    large_cents: z.number().int(),
    large_above_megapixels: z.number(),
    /** Added per image layer with remove_background that the render draws. */
    background_removal_cents: z.number().int(),
  }),
});

export const LedgerEntry = z.object({
  entry_id: z.string(),
  kind: z.enum(["TOPUP", "CHARGE", "REFUND"]),
  amount_cents: z.number().int(),
  job_id: z.string().nullable(),
  note: z.string().nullable(),
  created_at: Timestamp,
});

/** A saved Send-To destination; its credentials are masked (`"access_token":"sl.t…6789"`). */
export const Preset = z.object({
  preset_id: z.string(),
  name: z.string(),
  type: z.enum(["dropbox", "webhook", "gfcrew"]),
  destination: z.record(z.string(), z.unknown()).meta({ description: "The destination, with its credentials masked" }),
  created_at: Timestamp,
  updated_at: Timestamp,
});

/**
 * What a saved template adds to its document (`GET /api/v1/templates/:id`). The document's own
 * fields are src/templates/document.ts's, with every default filled in.
 */
export const TemplateMeta = z.object({
  template_id: z.string(),
  name: z.string(),
  version: z.number().int(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
