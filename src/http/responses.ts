// What the REST routes answer, as zod schemas: each route lists them under `schema.response`, so
// Fastify serialises its bodies through them (fastify-type-provider-zod's serializerCompiler) and
// /openapi.json documents every status a route can answer. The views themselves are built in the
// domain (src/jobs/view.ts, src/templates/service.ts, ...); the type checks at the end keep these
// schemas and those views from drifting apart: a field added to a view and not here fails
// `npm run typecheck` instead of being stripped from responses at run time.
import { z } from "zod";
import type { AccountView, LedgerEntryView } from "../billing/ledger.js";
import type { PresetView } from "../delivery/presets.js";
import type { WebhookAttemptView } from "../delivery/webhook-events.js";
import type { WebhookSecretView } from "../delivery/webhook-secrets.js";
import type { JobView } from "../jobs/view.js";
import { ErrorBody } from "../views/errors.js";
import {
  Accepted as AcceptedView,
  ExportDone,
  ExportQueued,
  JobView as JobViewSchema,
  WebhookAttemptView as WebhookAttemptViewSchema,
} from "../views/job.js";
import {
  Account,
  DesignGroup,
  Font,
  FontList,
  LedgerEntry,
  Preset,
  TemplateMeta,
  WebhookSecret,
} from "../views/resources.js";
import type { DesignGroupView } from "../templates/design-groups.js";
import type { FontView } from "../templates/fonts.js";
import type { TemplateVersionView, TemplateView } from "../templates/service.js";

// ---- errors ----------------------------------------------------------------------------------

const ERRORS = {
  400: ["Invalid input, named in the message", "Invalid request body: template_id: Required"],
  401: ["No API key, or an unknown, revoked or expired one", "Invalid API key"],
  402: ["The organisation's balance is exhausted or it is suspended; nothing was created", "Insufficient balance"],
  403: [
    "A signed link or URL whose signature is missing, altered or made with a secret that no longer verifies, or a signed output link past its expiry",
    "the signature does not match this URL",
  ],
  404: ["No such resource in the key's organisation", "job not found"],
  410: [
    "The output was deleted by the retention policy (OUTPUT_RETENTION_DAYS); the job is still listed, with output_expired_at",
    "output expired: deleted after 30 days retention",
  ],
  413: ["The body is over the size limit", "Request body is larger than the limit"],
  415: ["The body's Content-Type is not accepted", "Unsupported Content-Type: send application/json"],
  422: [
    "The Idempotency-Key was already used with a different request",
    'Idempotency-Key "order-1234" was already used with a different request; use a new key for a new request',
  ],
  429: ["Rate limit exceeded; see Retry-After", "Rate limit exceeded: 100 requests per 1 s"],
  500: ["The server's own fault (details in its log)", "Internal server error"],
  502: ["The render failed; its charge was refunded", "render failed: image_url answered 404"],
  503: ["PostgreSQL is unavailable; see Retry-After", "The database is unavailable; retry shortly"],
} as const;
type ErrorStatus = keyof typeof ERRORS;

export const RETRY_AFTER = {
  "retry-after": { type: "integer", description: "Seconds to wait before trying again" },
};

/** Response entries for error statuses, each the shared shape with its own description and example. */
export function errors(...statuses: ErrorStatus[]): Partial<Record<ErrorStatus, typeof ErrorBody>> {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      ErrorBody.meta({
        description: ERRORS[s][0],
        examples: [{ error: ERRORS[s][1] }],
        // @fastify/swagger moves a response schema's `headers` onto the response.
        ...(s === 429 || s === 503 ? { headers: RETRY_AFTER } : {}),
      }),
    ]),
  );
}

/** What every route behind an API key can answer besides its own: no key, too fast, our faults. */
const KEYED = [401, 429, 500, 503] as const;
/** Errors of a keyed route that reads a path parameter or query (400 for a bad one, 404 for none). */
export const keyedErrors = (...more: ErrorStatus[]) => errors(...KEYED, ...more);
/** Errors of a keyed route taking a JSON body: invalid, too large, or not JSON. */
export const JSON_BODY_ERRORS: ErrorStatus[] = [400, 413, 415];

/**
 * 204: no body. `type: "null"` is how @fastify/swagger documents a response without content;
 * routes send(null) to satisfy it, and Fastify writes no body for a 204 anyway.
 */
export const NoContent = z.null().meta({ description: "Done; no body" });

// ---- jobs --------------------------------------------------------------------------------------

// The job and webhook-attempt shapes are the zod views the published client infers its types from
// (src/views/job.ts): one definition for the server's answers, this document and the client.
/** The poll body (src/jobs/view.ts). Loose, so a field the view gains is never stripped. */
export const Job = JobViewSchema.loose().meta({
  description: "The job",
  examples: [
    {
      job_id: "clx8k2m4n6p8q0r2s4t6v8w0",
      status: "complete",
      template_id: "tpl_clx8k2m4n6p8q0r2s4t6",
      output_url: "https://cdn.example.com/renders/clx8k2m4n6p8q0r2s4t6v8w0.png",
      render_ms: 42,
      created_at: "2026-06-12T14:00:00.000Z",
      completed_at: "2026-06-12T14:00:00.042Z",
    },
  ],
});

/** The contract's 202: the job was accepted and goes on; poll `poll_url`. */
export const Accepted = AcceptedView.meta({
  description: "Accepted: the job runs in the background; poll poll_url",
  examples: [
    {
      job_id: "clx8k2m4n6p8q0r2s4t6v8w0",
      status: "pending",
      poll_url: "/api/v1/create/clx8k2m4n6p8q0r2s4t6v8w0",
    },
  ],
});

export const Redelivered = z.object({ ok: z.literal(true), job_id: z.string() });

export const WebhookAttempt = WebhookAttemptViewSchema;

// ---- templates, groups, fonts, money --------------------------------------------------------

// Design groups, fonts, the account, ledger entries and the webhook secret are zod views shared
// with the published client (src/views/resources.ts).
export {
  Account,
  DesignGroup,
  ErrorBody,
  ExportDone,
  ExportQueued,
  Font,
  FontList,
  LedgerEntry,
  Preset,
  WebhookSecret,
};

/**
 * The template document as stored (docs/templates.md). Layers are described loosely: a stored
 * document is answered as it is, and the request schema (with its defaults and checks) is the
 * reference for what a layer may hold.
 */
const DocumentFields = {
  width: z.number().int(),
  height: z.number().int(),
  background: z.union([z.string(), z.looseObject({})]),
  layers: z.array(z.looseObject({ type: z.string(), name: z.string() })),
};

export const Template = TemplateMeta.extend(DocumentFields);

export const TemplateVersion = Template.omit({ updated_at: true });

/** A page of a list, newest first; pass next_cursor as `cursor` for the next one (null: the last). */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });
/** A whole list. */
export const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });

export const Health = z.object({ status: z.literal("ok") });
export const Unhealthy = z.object({ status: z.literal("unavailable"), error: z.string() }).meta({
  description: "PostgreSQL or Redis is not answering",
  examples: [{ status: "unavailable", error: "redis not answering" }],
});

// ---- drift checks: every view must be something its schema can serialise ---------------------

// The view fits the schema, and has no field the schema does not name (which it would strip).
// (Mapped first: an interface has no index signature, which a loose schema's type has.)
type Serialisable<View, Schema extends z.ZodType> =
  { [K in keyof View]: View[K] } extends z.input<Schema>
    ? [Exclude<keyof View, keyof z.input<Schema>>] extends [never]
      ? true
      : never
    : never;
const drift0: Serialisable<JobView, typeof Job> = true;
const drift1: Serialisable<TemplateView, typeof Template> = true;
const drift2: Serialisable<TemplateVersionView, typeof TemplateVersion> = true;
const drift3: Serialisable<DesignGroupView, typeof DesignGroup> = true;
const drift4: Serialisable<FontView, typeof Font> = true;
const drift5: Serialisable<AccountView, typeof Account> = true;
const drift6: Serialisable<LedgerEntryView, typeof LedgerEntry> = true;
const drift7: Serialisable<WebhookAttemptView, typeof WebhookAttempt> = true;
const drift8: Serialisable<WebhookSecretView, typeof WebhookSecret> = true;
const drift9: Serialisable<PresetView, typeof Preset> = true;
void [drift0, drift1, drift2, drift3, drift4, drift5, drift6, drift7, drift8, drift9];
