// API keys: shown once when created, stored only as a SHA-256 hash. Keys are long random
// strings, so a fast hash is enough (no password-style stretching needed) and lookups stay O(1).
import { createHash, randomBytes } from "node:crypto";
import { newId } from "../db/ids.js";
import type { Prisma } from "../db/client.js";

const KEY_PREFIX = "tk_live_";

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(24).toString("base64url");
}

/** Creates a key for the organisation; returns the plain key, the only time it exists. */
export async function createApiKey(prisma: Prisma, orgId: string): Promise<string> {
  const key = generateApiKey();
  await prisma.apiKey.create({
    data: { id: newId("key"), orgId, keyHash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX.length + 4) },
  });
  return key;
}

export interface Principal {
  orgId: string;
  apiKeyId: string;
}

/** The organisation a key belongs to, or null for an unknown or revoked key. */
export async function authenticateApiKey(prisma: Prisma, key: string): Promise<Principal | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const row = await prisma.apiKey.findUnique({
    where: { keyHash: hashApiKey(key) },
    select: { id: true, orgId: true, revokedAt: true },
  });
  if (!row || row.revokedAt) return null;
  return { orgId: row.orgId, apiKeyId: row.id };
}
