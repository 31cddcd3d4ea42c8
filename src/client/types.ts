// The REST contract's shapes, as integrators see them. Field names are the REST API's snake_case
// (they match the README), so what the docs show is what the types say. This file has no runtime
// code: it type-checks in browsers and in Node alike.
//
// Every shape is inferred from the zod schema the server validates or answers with, never
// restated: requests from their input side (`z.input`: a field with a default is optional), saved
// documents and answers from their output side. The schemas are in modules that import zod and
// nothing of the server (src/views/*, src/templates/document.ts), which is what the client's build
// (tsconfig.client.json) compiles beside it; test/client-types.test.ts keeps it that way.
// Only `Page`, the client's own options and the type-level either/or of a design-group render
// are written here; test/client-types.test.ts checks them against the server's.
import type { z } from "zod";
import type {
  Background as BackgroundSchema,
  BackgroundImage as BackgroundImageSchema,
  EllipseLayer as EllipseLayerSchema,
  FontStyle,
  FontWeight,
  GradientStop as GradientStopSchema,
  ImageLayer as ImageLayerSchema,
  Layer as LayerSchema,
  LinearGradient as LinearGradientSchema,
  OutputOptions as OutputOptionsSchema,
  RectLayer as RectLayerSchema,
  TemplateDocument as TemplateDocumentSchema,
  TextLayer as TextLayerSchema,
} from "../templates/document.js";
import type { ErrorBody as ErrorBodySchema, FieldError as FieldErrorSchema } from "../views/errors.js";
import type {
  Accepted as AcceptedSchema,
  ExportDone as ExportDoneSchema,
  ExportQueued as ExportQueuedSchema,
  JobItemView,
  JobStatus as JobStatusSchema,
  JobView,
  SendToStatus as SendToStatusSchema,
  WebhookAttemptView,
} from "../views/job.js";
import type {
  CreateRenderInput as CreateRenderInputSchema,
  DesignGroupInput as DesignGroupInputSchema,
  ExportRequest as ExportRequestSchema,
  GroupRenderInput as GroupRenderInputSchema,
  Modification as ModificationSchema,
  PresetInput as PresetInputSchema,
  PreviewInput as PreviewInputSchema,
  StudioRenderInput as StudioRenderInputSchema,
  TemplateInput as TemplateInputSchema,
} from "../views/requests.js";
import type {
  Account as AccountView,
  DesignGroup as DesignGroupView,
  Font as FontView,
  FontList as FontListView,
  LedgerEntry as LedgerEntryView,
  Preset as PresetView,
  TemplateMeta,
  WebhookSecret as WebhookSecretView,
} from "../views/resources.js";
import type {
  SignedRenderInput as SignedRenderInputSchema,
  SignedUrl as SignedUrlView,
  UrlSigningSecret as UrlSigningSecretView,
} from "../views/signed-urls.js";
import type {
  DirectSendTo as DirectSendToSchema,
  DropboxSendTo as DropboxSendToSchema,
  GfcrewSendTo as GfcrewSendToSchema,
  PresetSendTo as PresetSendToSchema,
  SendTo as SendToSchema,
  WebhookSendTo as WebhookSendToSchema,
} from "../views/send-to.js";

// ------------------------------------------------------------------------------ basics

/** A job's life: `pending` → `processing` → `complete` | `failed`. */
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** A complete job's send_to progress: `pending` → `delivering` → `delivered` | `failed`. */
export type SendToStatus = z.infer<typeof SendToStatusSchema>;

/** `png` (default), `jpeg` or `webp`. */
export type OutputFormat = NonNullable<z.input<typeof OutputOptionsSchema>["format"]>;

/** Hex colour (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`) or `"transparent"`. */
export type Color = string;

// ------------------------------------------------------------------------------ templates
// What a request sends: fields with a default may be left out.

export type GradientStop = z.input<typeof GradientStopSchema>;
/** Degrees as in CSS (180, the default: top to bottom); 2 to 16 stops. */
export type LinearGradient = z.input<typeof LinearGradientSchema>;
export type BackgroundImage = z.input<typeof BackgroundImageSchema>;
/** The canvas background: a colour, a linear gradient or an image. */
export type Background = z.input<typeof BackgroundSchema>;

export type TextLayer = z.input<typeof TextLayerSchema>;
export type ImageLayer = z.input<typeof ImageLayerSchema>;
export type RectLayer = z.input<typeof RectLayerSchema>;
export type EllipseLayer = z.input<typeof EllipseLayerSchema>;
/** One layer of a template document (`type`: text, image, rect or ellipse). */
export type Layer = z.input<typeof LayerSchema>;

/** A template document: a canvas (1 to 5000 px a side) and its layers, drawn bottom to top. */
export type TemplateDocument = z.input<typeof TemplateDocumentSchema>;

/** What `POST /api/v1/templates` and `PUT /api/v1/templates/:id` take: a document and a name. */
export type TemplateInput = z.input<typeof TemplateInputSchema>;

/** A saved template (`GET /api/v1/templates/:id`): its document with every default filled in. */
export type Template = z.infer<typeof TemplateMeta> & z.output<typeof TemplateDocumentSchema>;

/** One version of a template (`GET /api/v1/templates/:id/versions`). */
export type TemplateVersion = Omit<Template, "updated_at">;

/** A list page: pass `next_cursor` back as `cursor` for the next one (null on the last). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageOptions {
  /** 1 to 100. Default 20. */
  limit?: number;
  cursor?: string;
}

// ------------------------------------------------------------------------------ renders

/** Overrides for one layer, by name. */
export type Modification = z.input<typeof ModificationSchema>;

/** `format`, `quality` (1 to 100, JPEG and WebP; default 85) and `scale` (0.1 to 4; default 1). */
export type OutputOptions = z.input<typeof OutputOptionsSchema>;

export type DropboxSendTo = z.input<typeof DropboxSendToSchema>;
export type WebhookSendTo = z.input<typeof WebhookSendToSchema>;
export type GfcrewSendTo = z.input<typeof GfcrewSendToSchema>;
export type PresetSendTo = z.input<typeof PresetSendToSchema>;
/** Where the image goes once rendered. */
export type SendTo = z.input<typeof SendToSchema>;
/** A destination a Send-To preset can save (not another preset). */
export type DirectSendTo = z.input<typeof DirectSendToSchema>;

/** `POST /api/v1/create`. */
export type CreateRenderInput = z.input<typeof CreateRenderInputSchema>;

/** `POST /api/v1/studio/create-and-render`: save `design` as a template and render it. */
export type StudioRenderInput = z.input<typeof StudioRenderInputSchema>;

/**
 * `POST /api/v1/design-groups/create`: a saved group's id, or a list of template ids (the server
 * refuses both or neither; the types say so too).
 */
export type DesignGroupRenderInput = Omit<z.input<typeof GroupRenderInputSchema>, "send_to"> &
  ({ design_group_id: string; template_ids?: never } | { template_ids: string[]; design_group_id?: never });

/**
 * The 202 answer: the job was accepted and goes on; poll it or wait for it. `status` is `pending`,
 * or the job's status when a `sync` wait ran out.
 */
export type RenderAccepted = Omit<z.infer<typeof AcceptedSchema>, "template_id">;

/** The Studio's 202 answer also names the template the design was saved as. */
export type StudioRenderAccepted = RenderAccepted & { template_id: string };

/** One render of a design group job. */
export type JobItem = z.infer<typeof JobItemView>;

/**
 * A job: the poll body of `GET /api/v1/create/:job_id`. Fields that do not apply yet are absent
 * (never null).
 */
export type Job = z.infer<typeof JobView>;

/**
 * `createRender`'s answer: `Job` when `sync` finished in time, `RenderAccepted` otherwise
 * (always without `sync`). Tell them apart with `'poll_url' in result` (or `isAccepted`).
 */
export type CreateRenderResult = RenderAccepted | Job;

/** `createStudioRender`'s answer; as `CreateRenderResult`, and the 202 names the template. */
export type StudioRenderResult = StudioRenderAccepted | Job;

// ------------------------------------------------------------------------------ design groups

/** `POST /api/v1/design-groups`: a name and 1 to 20 of the organisation's templates. */
export type DesignGroupInput = z.input<typeof DesignGroupInputSchema>;

export type DesignGroup = z.infer<typeof DesignGroupView>;

// ------------------------------------------------------------------------------ billing

export type Account = z.infer<typeof AccountView>;

/** One immutable money movement; the entries sum to the balance (`amount_cents` is positive for TOPUP and REFUND, negative for CHARGE). */
export type LedgerEntry = z.infer<typeof LedgerEntryView>;

// ------------------------------------------------------------------------------ delivery

export type ExportDestination = SendTo["type"];

/** Each export route's destination fields: the send_to fields without `type`. */
export type ExportDestinationFields = { [D in ExportDestination]: Omit<Extract<SendTo, { type: D }>, "type"> };

/** What to render (a saved `template_id` or a `design`) and how to answer (`async`). */
export type ExportRequest = z.input<typeof ExportRequestSchema>;

/** The body of `POST /api/v1/studio/export/<destination>`. */
export type ExportBody<D extends ExportDestination> = ExportRequest & ExportDestinationFields[D];

/** Queued (202): only the job id is known yet; poll it, wait for it or await its webhook. */
export type ExportQueued = z.infer<typeof ExportQueuedSchema>;

/** Done (200): `ok` false with `error` when the render or the send failed. */
export type ExportDone = z.infer<typeof ExportDoneSchema>;

/** The Studio export answer: branch on `async`, as the contract says. */
export type ExportResult = ExportQueued | ExportDone;

/** `POST /api/v1/send-to-presets`: a name and a destination to save. */
export type SendToPresetInput = z.input<typeof PresetInputSchema>;

/** A saved destination, its credentials masked (`"access_token":"sl.t…6789"`). */
export type SendToPreset = z.infer<typeof PresetView>;

export type WebhookSecret = z.infer<typeof WebhookSecretView>;

/** `POST /api/v1/signed-urls`: POST /api/v1/create's body without webhook_url and send_to. */
export type SignedRenderInput = z.input<typeof SignedRenderInputSchema>;
/** A signed render URL anyone can GET. */
export type SignedUrl = z.infer<typeof SignedUrlView>;
/** The organisation's URL signing secret (`urlsec_…`) and the id its URLs carry. */
export type UrlSigningSecret = z.infer<typeof UrlSigningSecretView>;

/** One webhook attempt (`GET /api/v1/create/:job_id/deliveries`). */
export type WebhookAttempt = z.infer<typeof WebhookAttemptView>;

// ------------------------------------------------------------------------------ fonts

export type Font = z.infer<typeof FontView>;

export type FontList = z.infer<typeof FontListView>;

/** `uploadFont`'s options: the query of `POST /api/v1/fonts`, and the body's type. */
export interface FontUploadOptions {
  /** The family to register; read from the file when absent. */
  family?: string;
  weight?: FontWeight;
  style?: FontStyle;
  /** Default `application/octet-stream`. */
  contentType?: string;
}

// ------------------------------------------------------------------------------ errors

/** `details` of a 400: each problem with its JSON path. */
export type FieldError = z.infer<typeof FieldErrorSchema>;

/** Every error answer's body. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

// ------------------------------------------------------------------------------ previews

/**
 * `preview`'s input (`POST /api/v1/previews`): `document`, or `template_id` (its latest version)
 * with `modifications`; `format`, `scale` (0.1-1) and `quality` as for renders.
 */
export type PreviewInput = z.input<typeof PreviewInputSchema>;

/** A preview: the image's bytes and what the server said about it. Nothing was stored or charged. */
export interface PreviewImage {
  bytes: Uint8Array;
  /** `image/png`, `image/jpeg` or `image/webp`. */
  content_type: string;
  /** The render worker's time (`X-Render-Ms`). */
  render_ms: number;
  /** What the preview left out that a render does (`X-Preview-Notes`), e.g. background removal. */
  notes: string[];
}
