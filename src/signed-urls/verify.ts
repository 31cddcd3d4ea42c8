// Checking a signed render URL as it arrives: which organisation, whether one of its secrets
// signed exactly this path and `m`, and what `m` asks for. The URL is rebuilt from the routed
// parameters with the same functions that build it (src/signed-urls/url.ts), never matched as a
// raw string, so one request has one reading.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "../db/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { SignedRenderInput } from "../views/signed-urls.js";
import { verifyingSecrets } from "./secrets.js";
import {
  fromBase64Url,
  SIGNED_URL_FORMATS,
  signatureFor,
  signedRenderPath,
  stringToSign,
  type SignedUrlFormat,
} from "./url.js";

/** A signed URL that does not verify: 403, naming why (never which secret was tried). */
export class SignatureError extends Error {}

export interface SignedUrlRequest {
  orgId: string;
  /** `<template_id>.<format>`, the path's last segment as routed (decoded). */
  file: string;
  /** Every query parameter, as routed: only `m` and `s` may be there. */
  query: Record<string, unknown>;
}

export interface VerifiedSignedRender {
  orgId: string;
  /** sha256 hex of the signed string: names the content (storage key, ETag, idempotency key). */
  digest: string;
  input: SignedRenderInput;
}

const SIGNATURE = /^[0-9a-f]{64}$/;

/** Splits `<template_id>.<format>`; null when the extension is not an output format. */
function parseFile(file: string): { templateId: string; format: SignedUrlFormat } | null {
  const dot = file.lastIndexOf(".");
  const format = file.slice(dot + 1) as SignedUrlFormat;
  if (dot <= 0 || !SIGNED_URL_FORMATS.includes(format)) return null;
  return { templateId: file.slice(0, dot), format };
}

/** What an unknown organisation's URLs are checked against: random, never stored, never matches. */
const UNKNOWN_ORG_SECRET = `urlsec_${randomBytes(32).toString("base64url")}`;

/**
 * Verifies the signature (constant-time, against the current secret and the previous one during
 * its grace), then decodes and validates what was signed. Throws NotFoundError (not a signed
 * render path), SignatureError (unsigned, tampered, an extra parameter the signature does not
 * cover, or an unknown organisation), ValidationError (signed, but not a valid render: 400).
 */
export async function verifySignedUrl(
  deps: { prisma: Db; secretsKey: Buffer },
  request: SignedUrlRequest,
): Promise<VerifiedSignedRender> {
  const parsed = parseFile(request.file);
  if (!parsed)
    throw new NotFoundError(`not a signed render path: the last segment must be <template_id>.png, .jpeg or .webp`);
  const { m, s, ...others } = request.query;
  const extra = Object.keys(others);
  if (extra.length > 0)
    throw new SignatureError(`the query has parameters the signature does not cover: ${extra.join(", ")}`);
  if (typeof s !== "string" || s.length === 0) throw new SignatureError("unsigned URL: the s parameter is missing");
  if (typeof m !== "string") throw new SignatureError("the m parameter is missing or repeated");
  if (!SIGNATURE.test(s)) throw new SignatureError("the signature is not 64 lowercase hex digits");

  // An unknown organisation is checked against a secret nobody has, and fails like a wrong
  // signature: the answer does not tell a stranger which organisation ids exist.
  const secrets = (await verifyingSecrets(deps, request.orgId)) ?? [UNKNOWN_ORG_SECRET];
  const signed = stringToSign(signedRenderPath(request.orgId, parsed.templateId, parsed.format), m);
  const given = Buffer.from(s, "hex");
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(await signatureFor(secret, signed), "hex");
    if (timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new SignatureError("the signature does not match this URL");

  return {
    orgId: request.orgId,
    digest: createHash("sha256").update(signed).digest("hex"),
    input: decodeInput(m, parsed.templateId, parsed.format),
  };
}

/** What `m` asks for, validated like POST /api/v1/create's body (400 naming the problem). */
function decodeInput(m: string, templateId: string, format: SignedUrlFormat): SignedRenderInput {
  const bytes = fromBase64Url(m);
  if (!bytes) throw new ValidationError("m: not base64url", ["m"]);
  let decoded: unknown;
  try {
    decoded = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ValidationError("m: not UTF-8 JSON", ["m"]);
  }
  if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded))
    throw new ValidationError("m: must be a JSON object", ["m"]);
  // Template and format are the path's; m carries the rest.
  for (const key of ["template_id", "format"])
    if (key in decoded) throw new ValidationError(`m: ${key} belongs in the path, not in m`, ["m", key]);
  const input = SignedRenderInput.safeParse({ ...decoded, template_id: templateId, format });
  if (!input.success) throw ValidationError.fromZod(input.error.issues, "m");
  return input.data;
}
