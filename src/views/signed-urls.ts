// Signed render URLs as the REST API takes and answers them (POST /api/v1/signed-urls, the
// signing secret routes). Zod only, like the other views: the published client infers its types
// from these.
import { z } from "zod";
import { CreateRenderInput } from "./requests.js";

/**
 * What a signed URL renders: POST /api/v1/create's body without webhook_url and send_to (an
 * anonymous GET has no one to tell and nowhere to send). Strict, so asking for them is a 400
 * rather than silently dropped.
 */
export const SignedRenderInput = CreateRenderInput.omit({ webhook_url: true, send_to: true }).strict();
export type SignedRenderInput = z.infer<typeof SignedRenderInput>;

export const SignedUrl = z
  .object({
    url: z.string().meta({
      description: "GET it without a key: the first GET renders (charged once), later GETs serve the stored image",
    }),
  })
  .meta({
    examples: [
      {
        url: "https://templified.example.com/signed/v1/org_clx8k2m4n6p8q0r2s4/tpl_clx8k2m4n6p8q0r2s4t6.png?m=eyJtb2RpZmljYXRpb25zIjpbXX0&s=4f1c…",
      },
    ],
  });
export type SignedUrl = z.infer<typeof SignedUrl>;

export const UrlSigningSecret = z.object({
  org_id: z.string().meta({ description: "The organisation id signed URLs carry in their path" }),
  signing_secret: z.string().meta({ description: "urlsec_…: the HMAC-SHA256 key (its UTF-8 bytes)" }),
  previous_secret_expires_at: z
    .string()
    .meta({ format: "date-time", description: "Until then URLs signed with the previous secret still render" })
    .nullable(),
});
export type UrlSigningSecret = z.infer<typeof UrlSigningSecret>;
