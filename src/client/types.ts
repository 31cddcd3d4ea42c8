// The REST contract's shapes, as integrators see them. Field names are the REST API's snake_case
// (they match the README), so what the docs show is what the types say. This file has no runtime
// code: it type-checks in browsers and in Node alike. The job and webhook-attempt bodies,
// and the design-group, font, account, ledger and webhook-secret bodies are inferred from the zod
// schemas the server answers with (src/views/job.ts and src/views/resources.ts, which import zod
// only); the rest (template documents, request inputs, presets) are written here and checked
// against the server's views by test/client-types.test.ts.
import type { z } from "zod";
import type {
  JobItemView,
  JobStatus as JobStatusSchema,
  JobView,
  SendToStatus as SendToStatusSchema,
  WebhookAttemptView,
} from "../views/job.js";
import type {
  Account as AccountView,
  DesignGroup as DesignGroupView,
  Font as FontView,
  FontList as FontListView,
  LedgerEntry as LedgerEntryView,
  WebhookSecret as WebhookSecretView,
} from "../views/resources.js";

/** A job's life: `pending` → `processing` → `complete` | `failed`. */
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** A complete job's send_to progress: `pending` → `delivering` → `delivered` | `failed`. */
export type SendToStatus = z.infer<typeof SendToStatusSchema>;

export type OutputFormat = "png" | "jpeg" | "webp";

/** Hex colour (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`) or `"transparent"`. */
export type Color = string;

// ------------------------------------------------------------------------------ templates

export interface GradientStop {
  color: Color;
  /** 0 to 1. */
  offset: number;
}

export interface LinearGradient {
  type: "linear_gradient";
  /** Degrees, as in CSS (180: top to bottom). Default 180. */
  angle?: number;
  stops: GradientStop[];
}

export interface BackgroundImage {
  type: "image";
  image_url: string;
  fit?: "cover" | "contain" | "fill";
}

/** The canvas background: a colour, a linear gradient or an image. */
export type Background = Color | LinearGradient | BackgroundImage;

interface LayerBase {
  /** Unique in the template: what modifications refer to. */
  name: string;
  x?: number;
  y?: number;
  width: number;
  height: number;
  /** 0 to 1. Default 1. */
  opacity?: number;
  /** Degrees clockwise around the box's centre. */
  rotation?: number;
  hidden?: boolean;
}

export interface TextLayer extends LayerBase {
  type: "text";
  text?: string;
  /** `Inter` (default), `Noto Serif`, `JetBrains Mono` or a family the organisation uploaded. */
  font_family?: string;
  /** 100 to 900, by hundreds. Default 400. */
  font_weight?: number;
  font_style?: "normal" | "italic";
  /** Pixels. Default 32; with auto_fit, the largest size tried. */
  font_size?: number;
  color?: Color;
  background_color?: Color;
  align?: "left" | "center" | "right";
  vertical_align?: "top" | "middle" | "bottom";
  /** A multiple of the font size. Default 1.2. */
  line_height?: number;
  letter_spacing?: number;
  max_lines?: number;
  auto_fit?: boolean;
  min_font_size?: number;
  text_transform?: "none" | "uppercase" | "lowercase";
}

export interface ImageLayer extends LayerBase {
  type: "image";
  image_url?: string;
  fit?: "cover" | "contain" | "fill";
  focal_x?: number;
  focal_y?: number;
  radius?: number;
  placeholder_color?: Color;
}

export interface RectLayer extends LayerBase {
  type: "rect";
  fill?: Color;
  radius?: number;
  stroke_color?: Color;
  stroke_width?: number;
}

export interface EllipseLayer extends LayerBase {
  type: "ellipse";
  fill?: Color;
  stroke_color?: Color;
  stroke_width?: number;
}

export type Layer = TextLayer | ImageLayer | RectLayer | EllipseLayer;

/** A template document: a canvas and its layers, drawn bottom to top. */
export interface TemplateDocument {
  /** 1 to 5000 px. */
  width: number;
  /** 1 to 5000 px. */
  height: number;
  /** Default `#ffffff`. */
  background?: Background;
  layers?: Layer[];
}

/** What `POST /api/v1/templates` and `PUT /api/v1/templates/:id` take. */
export interface TemplateInput extends TemplateDocument {
  name?: string;
}

/** A saved template (`GET /api/v1/templates/:id`): its document with every default filled in. */
export interface Template {
  template_id: string;
  name: string;
  version: number;
  width: number;
  height: number;
  background: Background;
  layers: Layer[];
  created_at: string;
  updated_at: string;
}

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
export interface Modification {
  name: string;
  /** Text layers. */
  text?: string;
  /** Image layers. */
  image_url?: string;
  /** Text colour; a shape's fill. */
  color?: Color;
  /** A text box's background; a shape's fill. */
  background?: Color;
  /** `true` hides the layer, `false` shows a hidden one. */
  hide?: boolean;
  font_size?: number;
  font_family?: string;
  font_weight?: number;
  opacity?: number;
}

export interface OutputOptions {
  /** Default `png`. */
  format?: OutputFormat;
  /** 1 to 100 (JPEG and WebP). Default 85. */
  quality?: number;
  /** 0.1 to 4. Default 1. */
  scale?: number;
}

export interface DropboxSendTo {
  type: "dropbox";
  access_token: string;
  /** A folder, or a file path; starts with `/`. */
  path: string;
  mode?: "add" | "overwrite";
  autorename?: boolean;
}

export interface WebhookSendTo {
  type: "webhook";
  url: string;
}

export interface GfcrewSendTo {
  type: "gfcrew";
  endpoint: string;
  api_key: string;
  project?: string;
  tags?: string[];
}

export interface PresetSendTo {
  type: "preset";
  preset_id: string;
}

/** Where the image goes once rendered. */
export type SendTo = DropboxSendTo | WebhookSendTo | GfcrewSendTo | PresetSendTo;
/** A destination a Send-To preset can save (not another preset). */
export type DirectSendTo = DropboxSendTo | WebhookSendTo | GfcrewSendTo;

/** `POST /api/v1/create`. */
export interface CreateRenderInput extends OutputOptions {
  template_id: string;
  modifications?: Modification[];
  /** POSTed the final job (signed, Standard Webhooks). */
  webhook_url?: string;
  send_to?: SendTo;
}

/** `POST /api/v1/studio/create-and-render`: save `design` as a template and render it. */
export interface StudioRenderInput extends OutputOptions {
  design: TemplateInput;
  modifications?: Modification[];
  webhook_url?: string;
  send_to?: SendTo;
}

/** `POST /api/v1/design-groups/create`: a saved group's id, or a list of template ids. */
export type DesignGroupRenderInput = OutputOptions & {
  modifications?: Modification[];
  /** One event when the whole group is final. */
  webhook_url?: string;
} & ({ design_group_id: string; template_ids?: never } | { template_ids: string[]; design_group_id?: never });

/** The 202 answer: the job was accepted and is rendering; poll it or wait for it. */
export interface RenderAccepted {
  job_id: string;
  status: "pending";
  /** A path relative to the base URL: `/api/v1/create/<job_id>`. */
  poll_url: string;
}

/** The Studio's 202 answer also names the template the design was saved as. */
export interface StudioRenderAccepted extends RenderAccepted {
  template_id: string;
}

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

export interface DesignGroupInput {
  name: string;
  /** 1 to 20 of the organisation's templates. */
  template_ids: string[];
}

export type DesignGroup = z.infer<typeof DesignGroupView>;

// ------------------------------------------------------------------------------ billing

export type Account = z.infer<typeof AccountView>;

/** One immutable money movement; the entries sum to the balance (`amount_cents` is positive for TOPUP and REFUND, negative for CHARGE). */
export type LedgerEntry = z.infer<typeof LedgerEntryView>;

// ------------------------------------------------------------------------------ delivery

export type ExportDestination = "dropbox" | "webhook" | "gfcrew" | "preset";

/** Each export route's destination fields: the send_to fields without `type`. */
export interface ExportDestinationFields {
  dropbox: Omit<DropboxSendTo, "type">;
  webhook: Omit<WebhookSendTo, "type">;
  gfcrew: Omit<GfcrewSendTo, "type">;
  preset: Omit<PresetSendTo, "type">;
}

/** What to render (a saved `template_id` or a `design`) and how to answer. */
export interface ExportRequest extends OutputOptions {
  template_id?: string;
  design?: TemplateInput;
  modifications?: Modification[];
  webhook_url?: string;
  /** `true`: answer at once (queued) instead of waiting for the render and the send. */
  async?: boolean;
}

/** The body of `POST /api/v1/studio/export/<destination>`. */
export type ExportBody<D extends ExportDestination> = ExportRequest & ExportDestinationFields[D];

/** Queued (202): only the job id is known yet; poll it, wait for it or await its webhook. */
export interface ExportQueued {
  ok: true;
  async: true;
  job_id: string;
}

/** Done (200): `ok` false with `error` when the render or the send failed. */
export interface ExportDone {
  ok: boolean;
  async: false;
  job_id: string;
  outputUrl?: string;
  error?: string;
  /** Dropbox. */
  dropbox_file_id?: string;
  /** Dropbox. */
  dropbox_path?: string;
  /** GFcrew. */
  gfcrew_id?: string;
  /** Webhook: the receiver's HTTP status. */
  delivery_status?: string;
  /** Any other identifier the destination returned. */
  [identifier: string]: unknown;
}

/** The Studio export answer: branch on `async`, as the contract says. */
export type ExportResult = ExportQueued | ExportDone;

export interface SendToPresetInput {
  name: string;
  destination: DirectSendTo;
}

export interface SendToPreset {
  preset_id: string;
  name: string;
  type: DirectSendTo["type"];
  /** The destination with its credentials masked (`"access_token":"sl.t…6789"`). */
  destination: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export type WebhookSecret = z.infer<typeof WebhookSecretView>;

/** One webhook attempt (`GET /api/v1/create/:job_id/deliveries`). */
export type WebhookAttempt = z.infer<typeof WebhookAttemptView>;

// ------------------------------------------------------------------------------ fonts

export type Font = z.infer<typeof FontView>;

export type FontList = z.infer<typeof FontListView>;

export interface FontUploadOptions {
  /** The family to register; read from the file when absent. */
  family?: string;
  weight?: number;
  style?: "normal" | "italic";
  /** Default `application/octet-stream`. */
  contentType?: string;
}

/** `details` of a 400: each problem with its JSON path. */
export interface FieldError {
  path: string;
  message: string;
}

/** Every error answer's body. */
export interface ErrorBody {
  error: string;
  details?: FieldError[];
  /** 402 only: "insufficient_balance" or "suspended" (the message is "Insufficient balance" for both). */
  reason?: "insufficient_balance" | "suspended";
}
