// Standard Webhooks signatures (https://www.standardwebhooks.com, the scheme Svix uses):
//
//   webhook-id:        a message id, the same for every retry of one message
//   webhook-timestamp: integer seconds since the epoch, fresh for each attempt
//   webhook-signature: space-separated "v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>",
//                      one per active secret (several while a secret is being rotated)
//
// A secret is "whsec_" + base64 of the key bytes; the HMAC key is the decoded bytes. Receivers use
// any Standard Webhooks / Svix library, or verifyWebhook below.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Every signing secret starts with it (and nothing encrypted at rest does). */
export const WEBHOOK_SECRET_PREFIX = "whsec_";
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
}

/** A new signing secret: `whsec_` + base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(24).toString("base64")}`;
}

/** The HMAC key of a secret (the `whsec_` prefix is optional, as in the reference libraries). */
function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  if (b64.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new Error("invalid webhook secret: expected whsec_ followed by base64");
  }
  const key = Buffer.from(b64, "base64");
  if (key.length === 0) throw new Error("invalid webhook secret: the key is empty");
  return key;
}

function hmac(key: Buffer, msgId: string, timestampSeconds: number, body: Buffer | string): Buffer {
  return createHmac("sha256", key)
    .update(`${msgId}.${timestampSeconds}.`, "utf8")
    .update(typeof body === "string" ? Buffer.from(body, "utf8") : body)
    .digest();
}

function checkSignedFields(msgId: string, timestampSeconds: number): void {
  if (!/^[\x21-\x7e]+$/.test(msgId))
    throw new Error("invalid webhook id: must be non-empty printable ASCII without spaces");
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error(`invalid webhook timestamp ${timestampSeconds}: must be whole seconds since the epoch`);
  }
}

/**
 * The `webhook-signature` value: `v1,<base64>` for each secret, joined by a single space.
 * Throws when no secret is given or a secret is malformed.
 */
export function signPayload(secrets: string[], msgId: string, timestampSeconds: number, body: Buffer | string): string {
  if (secrets.length === 0) throw new Error("no webhook signing secret configured");
  checkSignedFields(msgId, timestampSeconds);
  return secrets.map((s) => `v1,${hmac(secretKey(s), msgId, timestampSeconds, body).toString("base64")}`).join(" ");
}

// A type alias (not an interface) so it is assignable to Record<string, string>.
export type WebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** The three Standard Webhooks headers for one attempt. */
export function webhookHeaders(
  secrets: string[],
  msgId: string,
  timestampSeconds: number,
  body: Buffer | string,
): WebhookHeaders {
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": signPayload(secrets, msgId, timestampSeconds, body),
  };
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function" && typeof (headers as Headers).has === "function") {
    return (headers as Headers).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  for (const [key, value] of Object.entries(record)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value.join(" ") : value;
  }
  return undefined;
}

/**
 * Verify a Standard Webhooks request. Throws WebhookVerificationError naming the reason: a missing
 * header, a timestamp outside ±toleranceSeconds (default 300), or no matching `v1` signature.
 * Any of the space-separated signatures may match; comparison is constant-time.
 */
export function verifyWebhook(
  secret: string,
  headers: HeaderSource,
  body: string | Buffer,
  opts: { toleranceSeconds?: number; nowSeconds?: number } = {},
): void {
  const msgId = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signature = header(headers, "webhook-signature");
  const missing = [!msgId && "webhook-id", !timestamp && "webhook-timestamp", !signature && "webhook-signature"].filter(
    Boolean,
  );
  if (missing.length > 0 || !msgId || !timestamp || !signature) {
    throw new WebhookVerificationError(`missing header${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  }
  if (!/^\d+$/.test(timestamp.trim())) throw new WebhookVerificationError(`invalid webhook-timestamp "${timestamp}"`);
  const ts = Number(timestamp.trim());
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (ts < now - tolerance)
    throw new WebhookVerificationError(`timestamp too old (${now - ts} s, tolerance ${tolerance} s)`);
  if (ts > now + tolerance)
    throw new WebhookVerificationError(`timestamp too new (${ts - now} s in the future, tolerance ${tolerance} s)`);

  let key: Buffer;
  try {
    key = secretKey(secret);
  } catch (err) {
    throw new WebhookVerificationError((err as Error).message);
  }
  const expected = hmac(key, msgId, ts, body);
  let matched = false;
  for (const part of signature.split(" ")) {
    const comma = part.indexOf(",");
    if (comma < 0 || part.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(part.slice(comma + 1), "base64");
    // timingSafeEqual needs equal lengths; a wrong length cannot match anyway.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("no matching signature");
}
