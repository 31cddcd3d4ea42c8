// Secrets at rest (Send-To credentials in presets and jobs, webhook signing secrets): AES-256-GCM
// with a random 12-byte IV and the 16-byte auth tag, stored as `v1:<b64 iv>:<b64 tag>:<b64 ciphertext>`,
// under SECRETS_KEY (src/delivery/secrets-key.ts). Every secret stored anywhere goes through these
// two functions. The version prefix leaves room for another algorithm or key id later.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

/** Whether a stored value is in the format encryptSecret produces (not whether it decrypts). */
export function isEncryptedSecret(value: string): boolean {
  return value.startsWith(`${VERSION}:`);
}

/** Encrypt `plaintext` (UTF-8) with a 32-byte key. */
export function encryptSecret(plaintext: string, key: Buffer): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${VERSION}:${iv.toString("base64")}:${tag.toString("base64")}:${data.toString("base64")}`;
}

/** Decrypt what encryptSecret produced. Throws on a malformed value, a wrong key or tampering. */
export function decryptSecret(ciphertext: string, key: Buffer): string {
  checkKey(key);
  const parts = ciphertext.split(":");
  if (!isEncryptedSecret(ciphertext) || parts.length !== 4) {
    throw new Error(`cannot decrypt secret: unknown format (expected ${VERSION}:<iv>:<tag>:<data>)`);
  }
  const [, ivB64 = "", tagB64 = "", dataB64 = ""] = parts;
  const iv = Buffer.from(ivB64, "base64");
  const tag = Buffer.from(tagB64, "base64");
  const data = Buffer.from(dataB64, "base64");
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
    throw new Error("cannot decrypt secret: bad IV or tag length");
  const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
  } catch {
    throw new Error("cannot decrypt secret: wrong key or the value was tampered with");
  }
}

/**
 * The 32-byte key from configuration: 64 hex characters, or base64 (standard or URL-safe) of
 * exactly 32 bytes. Throws a clear error otherwise (the value itself is never echoed).
 */
export function parseEncryptionKey(value: string): Buffer {
  const text = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (key.length === KEY_BYTES) return key;
    throw new Error(
      `invalid encryption key: base64 decodes to ${key.length} bytes, expected ${KEY_BYTES} (generate one with: openssl rand -base64 32)`,
    );
  }
  throw new Error(
    `invalid encryption key: expected ${KEY_BYTES} bytes as base64 or 64 hex characters (generate one with: openssl rand -base64 32)`,
  );
}

/**
 * A secret shown in API responses: first 4 and last 4 characters (`sl.A…9xQz`); shorter secrets
 * show less, and never the whole value.
 */
export function maskSecret(s: string): string {
  const chars = Array.from(s);
  const keep = chars.length >= 16 ? 4 : chars.length >= 10 ? 2 : 0;
  if (keep === 0) return "…";
  return `${chars.slice(0, keep).join("")}…${chars.slice(-keep).join("")}`;
}
