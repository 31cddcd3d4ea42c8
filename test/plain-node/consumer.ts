// A TypeScript program as an integrator writes it: it imports `templified/client` by package name,
// so it compiles against the built declaration files under dist/ (not the sources), with its own
// tsconfig (test/plain-node/tsconfig.json). test/build.test.ts type-checks it after the build.
// The expected errors below prove the types are real: were a declaration unresolved (any), those
// directives would be unused and fail the check.
import {
  isAccepted,
  TemplifiedClient,
  type CreateRenderInput,
  type ExportResult,
  type Template,
} from "templified/client";
import { verifyWebhook } from "templified/webhooks";

const client = new TemplifiedClient({ baseUrl: "http://127.0.0.1:1", apiKey: "tk_live_x" });

const input: CreateRenderInput = {
  template_id: "tpl_1",
  modifications: [{ name: "headline", text: "Hello" }],
  format: "webp",
  send_to: { type: "dropbox", access_token: "t", path: "/cards" },
};
// @ts-expect-error template_id is required
const missing: CreateRenderInput = { format: "png" };
// @ts-expect-error the formats are png, jpeg and webp
const badFormat: CreateRenderInput = { template_id: "tpl_1", format: "gif" };
// @ts-expect-error a modification names its layer
const badModification: CreateRenderInput = { template_id: "tpl_1", modifications: [{ text: "x" }] };

export async function render(): Promise<string | undefined> {
  const result = await client.createRender(input, { sync: true });
  if (isAccepted(result)) return result.poll_url;
  return result.output_url;
}

export function layerNames(template: Template): string[] {
  // A saved template's defaults are filled in: x is a number, not number | undefined.
  const x: number = template.layers[0]?.x ?? 0;
  return template.layers.map((layer) => `${layer.name}@${x}`);
}

export function exportId(result: ExportResult): string | undefined {
  if (result.async) return result.job_id;
  return result.ok ? result.outputUrl : result.error;
}

export const verify = (secret: string, headers: Record<string, string>, body: string) =>
  verifyWebhook(secret, headers, body);

void [missing, badFormat, badModification];
