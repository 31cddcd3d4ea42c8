// Query.preview: the same service as POST /api/v1/previews (src/previews/preview-service.ts),
// the image answered inline as a data: URL. A query: nothing is created or charged. Past the
// preview rate limit, or with no worker answering, it is a GraphQL error (RATE_LIMITED,
// PREVIEW_UNAVAILABLE) as other rate limits are; invalid input, an unknown template and a failed
// render are data.
import { errorAnswerFor } from "../../error-answers.js";
import { AccountSuspendedError, InsufficientBalanceError } from "../../billing/errors.js";
import { NotFoundError, ValidationError } from "../../errors.js";
import { PreviewFailedError } from "../../previews/errors.js";
import { renderPreview, type Preview } from "../../previews/preview-service.js";
import { PreviewInput } from "../../views/requests.js";
import { builder, principalOf } from "../builder.js";
import { fromGraphQLInput, parseInput, zodInputFields } from "../inputs.js";
import { ErrorInterface } from "./errors.js";
import "./render-inputs.js";

builder.objectType(PreviewFailedError, {
  name: "PreviewFailedError",
  description: `The preview's render failed, e.g. an image that cannot be fetched (REST: ${errorAnswerFor(PreviewFailedError).httpStatus}).`,
  interfaces: [ErrorInterface],
});

/** Each preview's data: URL, made once however many times a query selects it. */
const dataUrls = new WeakMap<Preview, string>();
const dataUrlOf = (p: Preview): string => {
  let url = dataUrls.get(p);
  if (url === undefined) {
    url = `data:${p.contentType};base64,${p.image.toString("base64")}`;
    dataUrls.set(p, url);
  }
  return url;
};

const PreviewRef = builder.objectRef<Preview>("Preview").implement({
  description: "A preview: the image inline. Nothing was stored or charged.",
  fields: (t) => ({
    dataUrl: t.string({
      description: "The image as a data: URL (data:image/png;base64,...)",
      resolve: dataUrlOf,
    }),
    contentType: t.exposeString("contentType"),
    width: t.exposeInt("width"),
    height: t.exposeInt("height"),
    renderMs: t.exposeInt("renderMs", { description: "The render worker's time for the preview, in ms" }),
    notes: t.exposeStringList("notes", {
      description: "What the preview left out that a render does (e.g. background removal)",
    }),
  }),
});

const PreviewInputRef = builder.inputType("PreviewInput", {
  description: "Give exactly one of document and templateId.",
  fields: (t) => ({
    templateId: t.id({
      description: "A saved template: its latest version, with modifications applied (as POST /api/v1/create)",
    }),
    ...zodInputFields(t, PreviewInput, {
      omit: ["template_id"],
      descriptions: {
        document: "A template document, as in POST /api/v1/templates",
        scale: "0.1 to 1 (default 1): the image is width*scale x height*scale",
      },
    }),
  }),
});

builder.queryField("preview", (t) =>
  t.field({
    type: PreviewRef,
    description:
      "Render a document, or a saved template with modifications, inline (POST /api/v1/previews): no job, no charge, nothing stored.",
    errors: {
      types: [ValidationError, NotFoundError, PreviewFailedError, InsufficientBalanceError, AccountSuspendedError],
      directResult: true,
      union: { name: "PreviewResult" },
    },
    args: { input: t.arg({ type: PreviewInputRef, required: true }) },
    resolve: async (_root, args, ctx) => {
      const raw = fromGraphQLInput(PreviewInput, args.input);
      const input = parseInput(PreviewInput, raw);
      return renderPreview(ctx.app, principalOf(ctx), input);
    },
  }),
);
