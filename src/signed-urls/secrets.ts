// The organisation's URL signing secrets, modelled on the webhook secret
// (src/delivery/webhook-secrets.ts): encrypted at rest with encryptSecret under SECRETS_KEY,
// rotatable, and the previous secret keeps verifying for 24 hours after a rotation so URLs
// already published go on working while pages switch over. An organisation gets its first secret
// when it first asks for it (or creates a signed URL): most never use signed URLs.
import { randomBytes } from "node:crypto";
import type { Db } from "../db/client.js";
import { decryptSecret, encryptSecret } from "../delivery/crypto.js";
import { NotFoundError } from "../errors.js";
import { findUrlSigningSecrets, replaceUrlSigningSecrets, type StoredUrlSigningSecrets } from "./repository.js";
import { URL_SIGNING_SECRET_PREFIX } from "./url.js";

interface SecretDeps {
  prisma: Db;
  secretsKey: Buffer;
}

/** After a rotation the previous secret keeps verifying this long. */
const SECRET_OVERLAP_MS = 24 * 3600 * 1000;

export interface UrlSigningSecretView {
  org_id: string;
  signing_secret: string;
  previous_secret_expires_at: string | null;
}

/** A new secret: `urlsec_` + base64url of 32 random bytes (URL-safe, so it can be pasted anywhere). */
const generateSecret = () => `${URL_SIGNING_SECRET_PREFIX}${randomBytes(32).toString("base64url")}`;

const previousActive = (stored: StoredUrlSigningSecrets, now = new Date()) =>
  stored.previousUrlSigningSecret !== null &&
  stored.previousUrlSigningSecretExpiresAt !== null &&
  stored.previousUrlSigningSecretExpiresAt > now;

async function storedSecrets(deps: SecretDeps, orgId: string): Promise<StoredUrlSigningSecrets> {
  const stored = await findUrlSigningSecrets(deps.prisma, orgId);
  if (!stored) throw new NotFoundError("organisation not found");
  return stored;
}

/**
 * The secrets a signed URL of the organisation may be signed with: the current one, and the
 * previous one during its grace. Empty for an organisation without a secret yet, null for no
 * such organisation.
 */
export async function verifyingSecrets(deps: SecretDeps, orgId: string): Promise<string[] | null> {
  const stored = await findUrlSigningSecrets(deps.prisma, orgId);
  if (!stored) return null;
  if (!stored.urlSigningSecret) return [];
  const current = decryptSecret(stored.urlSigningSecret, deps.secretsKey);
  return previousActive(stored)
    ? [current, decryptSecret(stored.previousUrlSigningSecret!, deps.secretsKey)]
    : [current];
}

/** The current secret (created on first use) and when the previous one stops verifying. */
export async function urlSigningSecretView(deps: SecretDeps, orgId: string): Promise<UrlSigningSecretView> {
  for (let attempt = 1; ; attempt++) {
    const stored = await storedSecrets(deps, orgId);
    if (stored.urlSigningSecret) {
      return {
        org_id: orgId,
        signing_secret: decryptSecret(stored.urlSigningSecret, deps.secretsKey),
        previous_secret_expires_at: previousActive(stored)
          ? stored.previousUrlSigningSecretExpiresAt!.toISOString()
          : null,
      };
    }
    const secret = generateSecret();
    const created = await replaceUrlSigningSecrets(deps.prisma, orgId, null, {
      urlSigningSecret: encryptSecret(secret, deps.secretsKey),
      previousUrlSigningSecret: null,
      previousUrlSigningSecretExpiresAt: null,
    });
    if (created) return { org_id: orgId, signing_secret: secret, previous_secret_expires_at: null };
    // Another request created it first: read that one.
    if (attempt >= 5) throw new Error("the URL signing secret is being changed concurrently; try again");
  }
}

/** A new secret; the old one keeps verifying for 24 hours. Compare-and-set, as for webhooks. */
export async function rotateUrlSigningSecret(deps: SecretDeps, orgId: string): Promise<UrlSigningSecretView> {
  for (let attempt = 1; ; attempt++) {
    const stored = await storedSecrets(deps, orgId);
    const secret = generateSecret();
    const expiresAt = new Date(Date.now() + SECRET_OVERLAP_MS);
    const replaced = await replaceUrlSigningSecrets(deps.prisma, orgId, stored.urlSigningSecret, {
      urlSigningSecret: encryptSecret(secret, deps.secretsKey),
      previousUrlSigningSecret: stored.urlSigningSecret,
      previousUrlSigningSecretExpiresAt: stored.urlSigningSecret ? expiresAt : null,
    });
    if (replaced)
      return {
        org_id: orgId,
        signing_secret: secret,
        previous_secret_expires_at: stored.urlSigningSecret ? expiresAt.toISOString() : null,
      };
    if (attempt >= 5) throw new Error("the URL signing secret is being changed concurrently; try again");
  }
}
