// HMAC-SHA256 signatures of the API's own output links (OUTPUT_LINKS=signed on local disk):
// `/renders/<key>?expires=<unix seconds>&signature=<hex>`. The signing key is derived from
// SECRETS_KEY with HKDF, so every instance that shares SECRETS_KEY (which they must already)
// verifies the links any other made, and the encryption key itself never signs anything public.
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

// A fixed label: changing it invalidates every link in circulation (as rotating SECRETS_KEY does).
const HKDF_INFO = "templified output links v1";
const SIGNATURE = /^[0-9a-f]{64}$/;
const EXPIRES = /^[0-9]{1,12}$/;

/** The link-signing key for this SECRETS_KEY. */
export function deriveLinkKey(secretsKey: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", secretsKey, Buffer.alloc(0), HKDF_INFO, 32));
}

// The key and the expiry both signed, separated by a character neither can contain.
const mac = (linkKey: Buffer, key: string, expires: number) =>
  createHmac("sha256", linkKey).update(`${key}\n${expires}`).digest();

/** The hex signature of `key` valid until `expires` (unix seconds). */
export function signLink(linkKey: Buffer, key: string, expires: number): string {
  return mac(linkKey, key, expires).toString("hex");
}

export type LinkRefusal = "signature missing" | "signature invalid" | "link expired";

/**
 * null when `expires` and `signature` (the query's values, as given) sign `key` and the link has
 * not expired at `nowSeconds`; otherwise why not. The signature is checked before the expiry, so
 * an edited expiry reads as a bad signature, and compared in constant time.
 */
export function verifyLink(
  linkKey: Buffer,
  key: string,
  query: { expires?: string | undefined; signature?: string | undefined },
  nowSeconds: number,
): LinkRefusal | null {
  if (query.expires === undefined || query.signature === undefined) return "signature missing";
  if (!EXPIRES.test(query.expires) || !SIGNATURE.test(query.signature)) return "signature invalid";
  const expires = Number(query.expires);
  if (!timingSafeEqual(mac(linkKey, key, expires), Buffer.from(query.signature, "hex"))) return "signature invalid";
  return expires > nowSeconds ? null : "link expired";
}
