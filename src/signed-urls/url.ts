// Signed render URLs: the one rule for building and checking them, shared by the server (which
// verifies) and the published client (which builds them offline from the secret). It imports
// nothing of the server and no runtime library: Web Crypto and TextEncoder exist in Node 20 and
// in browsers alike.
//
//   GET /signed/v1/<org_id>/<template_id>.<format>?m=<base64url(canonical JSON)>&s=<hex HMAC>
//
//   m  the render's other inputs, as canonical JSON (keys sorted at every depth, nothing
//      undefined, defaults left out: no empty `modifications`, no `scale` of 1), base64url
//      without padding; `{}` when there is nothing to say
//   s  hex HMAC-SHA256, keyed with the organisation's URL signing secret (its UTF-8 bytes, the
//      whole `urlsec_…` string), of the string to sign: `<path>?m=<m>` — the path as above,
//      template id percent-encoded as encodeURIComponent does
//
// The same input always gives the same URL, so a page can build it on every load and the image
// is rendered once.
import type { Modification } from "../views/requests.js";

export const SIGNED_URL_PREFIX = "/signed/v1";
/** Every URL signing secret starts with it (and nothing encrypted at rest does). */
export const URL_SIGNING_SECRET_PREFIX = "urlsec_";
export const SIGNED_URL_FORMATS = ["png", "jpeg", "webp"] as const;
export type SignedUrlFormat = (typeof SIGNED_URL_FORMATS)[number];

/** What a signed URL renders: POST /api/v1/create's body without webhook_url and send_to. */
export interface SignedRenderParams {
  template_id: string;
  format?: SignedUrlFormat | undefined;
  modifications?: Modification[] | undefined;
  quality?: number | undefined;
  scale?: number | undefined;
}

export interface SignRenderUrlOptions extends SignedRenderParams {
  /** Where the API runs, e.g. `https://templified.example.com`. */
  baseUrl: string;
  /** The organisation's id (`org_…`): it tells the server which secret to verify with. */
  orgId: string;
  /** The organisation's URL signing secret, `urlsec_…` (GET /api/v1/signed-urls/secret). */
  secret: string;
}

/** JSON with object keys sorted at every depth and undefined members left out. */
function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
              .sort()
              .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sorted(value));
}

const toBase64Url = (bytes: Uint8Array): string => {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

/** The bytes of a base64url string; null when it is not base64url (padding not allowed). */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The `m` parameter: the render's inputs beyond template and format, canonical. */
function encodeRenderQuery(params: SignedRenderParams): string {
  const { modifications, quality, scale } = params;
  const inputs = {
    modifications: modifications && modifications.length > 0 ? modifications : undefined,
    quality,
    scale: scale === 1 ? undefined : scale,
  };
  return toBase64Url(new TextEncoder().encode(canonicalJson(inputs)));
}

/** The URL's path: which organisation, which template, which format. */
export const signedRenderPath = (orgId: string, templateId: string, format: SignedUrlFormat): string =>
  `${SIGNED_URL_PREFIX}/${encodeURIComponent(orgId)}/${encodeURIComponent(templateId)}.${format}`;

/** What the signature covers: the path and the `m` parameter, nothing of the host or method. */
export const stringToSign = (path: string, m: string): string => `${path}?m=${m}`;

/** Hex HMAC-SHA256 of `message` under the secret's UTF-8 bytes. */
export async function signatureFor(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A signed render URL, built offline from the organisation's secret: anyone may GET it; the first
 * GET renders (charged to the organisation once), later ones serve the stored image.
 */
export async function signRenderUrl(options: SignRenderUrlOptions): Promise<string> {
  if (!options.secret.startsWith(URL_SIGNING_SECRET_PREFIX))
    throw new Error(`not a URL signing secret (expected ${URL_SIGNING_SECRET_PREFIX}…)`);
  const path = signedRenderPath(options.orgId, options.template_id, options.format ?? "png");
  const m = encodeRenderQuery(options);
  const s = await signatureFor(options.secret, stringToSign(path, m));
  return `${options.baseUrl.replace(/\/+$/, "")}${path}?m=${m}&s=${s}`;
}
