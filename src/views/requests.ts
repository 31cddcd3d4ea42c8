// What the REST API's job-creating and resource-creating requests take, as zod schemas: the
// routes validate with them (and /openapi.json documents them), GraphQL builds its inputs from
// them, and the published client infers its request types from them (src/client/types.ts). Like
// the other views, this module imports zod and other zod-only schemas, nothing of the server.
import { z } from "zod";
import { Color, FontWeight, HttpUrl, OutputOptions, TemplateDocument } from "../templates/document.js";
import { DirectSendTo, SendTo } from "./send-to.js";

/** Overrides for one layer, by name; properties that do not fit the layer are refused. */
export const Modification = z
  .object({
    name: z.string().min(1),
    /** Text layers: the text. */
    text: z.string().max(10_000).optional(),
    /** Image layers: the picture. */
    image_url: HttpUrl.optional(),
    /** Image layers: cut the subject out of the picture (priced on top of the render). */
    remove_background: z.boolean().optional(),
    /** Text: text colour. Rect, ellipse: fill. */
    color: Color.optional(),
    /** Text: the box's background colour. Rect, ellipse: fill (same as color). */
    background: Color.optional(),
    /** `true` hides the layer, `false` shows a hidden one. */
    hide: z.boolean().optional(),
    /** Text layers. With auto_fit this is the largest size tried. */
    font_size: z.number().min(1).max(1000).optional(),
    font_family: z.string().min(1).max(100).optional(),
    font_weight: FontWeight.optional(),
    opacity: z.number().min(0).max(1).optional(),
  })
  .strict();
export type Modification = z.infer<typeof Modification>;

const Modifications = z.array(Modification).max(500).default([]);

/** The body of POST/PUT /api/v1/templates: the document plus an optional display name. */
export const TemplateInput = z.intersection(
  z.object({ name: z.string().min(1).max(200).optional() }),
  TemplateDocument,
);
export type TemplateInput = z.infer<typeof TemplateInput>;

/** What every job-creating request may ask for besides the render itself. */
const Delivery = {
  /** POSTed the final job (signed) when the render and its send_to are final. */
  webhook_url: HttpUrl.optional(),
  /** Where the image goes once rendered. */
  send_to: SendTo.optional(),
};

/** `POST /api/v1/create`. */
export const CreateRenderInput = OutputOptions.extend({
  template_id: z.string().min(1).max(100),
  modifications: Modifications,
  ...Delivery,
});
export type CreateRenderInput = z.infer<typeof CreateRenderInput>;

/** `POST /api/v1/studio/create-and-render`: save `design` as a template and render it. */
export const StudioRenderInput = OutputOptions.extend({
  /** The design to save as a template: a template document, optionally with a name. */
  design: TemplateInput,
  modifications: Modifications,
  ...Delivery,
});
export type StudioRenderInput = z.infer<typeof StudioRenderInput>;

/** Most templates a design group holds (and a group render renders). */
const MAX_GROUP_TEMPLATES = 20;

/** `POST /api/v1/design-groups/create`: a saved group's id, or a list of template ids. */
export const GroupRenderInput = OutputOptions.extend({
  design_group_id: z.string().min(1).max(100).optional(),
  template_ids: z.array(z.string().min(1).max(100)).min(1).max(MAX_GROUP_TEMPLATES).optional(),
  modifications: Modifications,
  /** One event when the whole group is final. */
  webhook_url: HttpUrl.optional(),
  // Refused rather than ignored: send_to state is one per job (send_to_status, its result, one
  // deliver-queue entry sending one file), and a group has one output per template; delivering
  // them would need per-item delivery state and retries that do not resend what already arrived.
  // Until then a client asking for it learns at once, before anything is charged.
  send_to: z
    .never({
      error:
        "send_to is not supported on design groups; use webhook_url (one event listing every output) or render each template with POST /api/v1/create",
    })
    .optional(),
}).refine((v) => (v.design_group_id === undefined) !== (v.template_ids === undefined), {
  message: "give either design_group_id or template_ids",
  path: ["design_group_id"],
});
export type GroupRenderInput = z.infer<typeof GroupRenderInput>;

/** `POST /api/v1/design-groups` and `PUT /api/v1/design-groups/:id`. */
export const DesignGroupInput = z.object({
  name: z.string().min(1).max(200),
  template_ids: z.array(z.string().min(1).max(100)).min(1).max(MAX_GROUP_TEMPLATES),
});
export type DesignGroupInput = z.infer<typeof DesignGroupInput>;

/** A Studio export: what to render and how to answer; the destination's fields come beside these. */
export const ExportRequest = OutputOptions.extend({
  template_id: z.string().min(1).max(100).optional(),
  design: TemplateInput.optional(),
  modifications: Modifications,
  webhook_url: HttpUrl.optional(),
  /** true: answer at once (queued) instead of waiting for the render and the send. */
  async: z.boolean().default(false),
});
export type ExportRequest = z.infer<typeof ExportRequest>;

/** Largest `scale` a preview takes: a preview is for looking at, not for printing. */
const MAX_PREVIEW_SCALE = 1;

/**
 * `POST /api/v1/previews` (and GraphQL `preview`): a document, or a saved template with
 * modifications, rendered inline — no job, no charge, nothing stored.
 */
export const PreviewInput = OutputOptions.extend({
  /** A template document, as in POST /api/v1/templates. */
  document: TemplateDocument.optional(),
  /** A saved template of the organisation: its latest version, with `modifications` applied. */
  template_id: z.string().min(1).max(100).optional(),
  modifications: Modifications,
  /** Multiplies the canvas size (0.1 to 1). */
  scale: z.number().min(0.1).max(MAX_PREVIEW_SCALE).default(1),
}).refine((v) => (v.document === undefined) !== (v.template_id === undefined), {
  message: "give either document or template_id",
  path: ["document"],
});
export type PreviewInput = z.infer<typeof PreviewInput>;

/** `POST /api/v1/send-to-presets` and its PUT: a name and a destination to save. */
export const PresetInput = z.object({ name: z.string().min(1).max(200), destination: DirectSendTo });
export type PresetInput = z.infer<typeof PresetInput>;
