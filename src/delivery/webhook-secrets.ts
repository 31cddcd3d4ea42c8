// The organisation's webhook signing secrets: which ones sign now, showing and rotating them, and
// how they are kept at rest. organizations.webhook_secret and previous_webhook_secret hold the
// secret encrypted like every other stored secret (encryptSecret, AES-256-GCM under SECRETS_KEY);
// whatever writes or reads those columns goes through sealWebhookSecret and openWebhookSecret.
//
// Databases from before encryption hold plaintext `whsec_…` values. openWebhookSecret still reads
// them as they are (so nothing breaks mid-upgrade), every write stores an encrypted value, and
// encryptLegacyWebhookSecrets, run at start alongside the migrations, encrypts what is left.
import type { Db, Prisma } from "../db/client.js";
import { decryptSecret, encryptSecret } from "./crypto.js";
import {
  findOrganizationsWithSecretPrefix,
  getWebhookSecrets,
  replaceStoredSecret,
  replaceWebhookSecrets,
  type StoredWebhookSecrets,
} from "./delivery-repository.js";
import { generateWebhookSecret, WEBHOOK_SECRET_PREFIX } from "./signing.js";

interface SecretDeps {
  prisma: Db;
  secretsKey: Buffer;
}

/** Whether a stored value is a plaintext secret from before encryption (encrypted ones start `v1:`). */
function isPlaintextWebhookSecret(stored: string): boolean {
  return stored.startsWith(WEBHOOK_SECRET_PREFIX);
}

/** The stored form of a signing secret. Refuses anything that is not a `whsec_…` secret (an already sealed value, say). */
export function sealWebhookSecret(secret: string, key: Buffer): string {
  if (!isPlaintextWebhookSecret(secret))
    throw new Error(`not a webhook signing secret (expected ${WEBHOOK_SECRET_PREFIX}…)`);
  return encryptSecret(secret, key);
}

/** The secret from its stored form: decrypted, or a legacy plaintext value as it is. Throws on a wrong key. */
export function openWebhookSecret(stored: string, key: Buffer): string {
  return isPlaintextWebhookSecret(stored) ? stored : decryptSecret(stored, key);
}

/** After a rotation the previous secret keeps signing this long, so receivers can switch over. */
const SECRET_OVERLAP_MS = 24 * 3600 * 1000;

const previousActive = (stored: StoredWebhookSecrets, now = new Date()) =>
  stored.previousWebhookSecret !== null &&
  stored.previousWebhookSecretExpiresAt !== null &&
  stored.previousWebhookSecretExpiresAt > now;

/** The secrets that sign now: the current one, and the previous one during its 24 hours. */
export async function signingSecrets(deps: SecretDeps, orgId: string): Promise<string[]> {
  const stored = await getWebhookSecrets(deps.prisma, orgId);
  const current = openWebhookSecret(stored.webhookSecret, deps.secretsKey);
  return previousActive(stored)
    ? [current, openWebhookSecret(stored.previousWebhookSecret!, deps.secretsKey)]
    : [current];
}

export interface WebhookSecretView {
  webhook_secret: string;
  previous_secret_expires_at: string | null;
}

export async function webhookSecretView(deps: SecretDeps, orgId: string): Promise<WebhookSecretView> {
  const stored = await getWebhookSecrets(deps.prisma, orgId);
  return {
    webhook_secret: openWebhookSecret(stored.webhookSecret, deps.secretsKey),
    previous_secret_expires_at: previousActive(stored) ? stored.previousWebhookSecretExpiresAt!.toISOString() : null,
  };
}

/**
 * A new secret; the old one keeps signing alongside for 24 hours. Compare-and-set on the stored
 * current secret, so two rotations at once (or one racing the start-up encryption of a legacy
 * value) never lose a secret that was already shown.
 */
export async function rotateWebhookSecret(deps: SecretDeps, orgId: string): Promise<WebhookSecretView> {
  for (let attempt = 1; ; attempt++) {
    const stored = await getWebhookSecrets(deps.prisma, orgId);
    const secret = generateWebhookSecret();
    const expiresAt = new Date(Date.now() + SECRET_OVERLAP_MS);
    const replaced = await replaceWebhookSecrets(deps.prisma, orgId, stored.webhookSecret, {
      webhookSecret: sealWebhookSecret(secret, deps.secretsKey),
      // Re-sealed, not copied: a legacy plaintext value is encrypted on its way here.
      previousWebhookSecret: sealWebhookSecret(
        openWebhookSecret(stored.webhookSecret, deps.secretsKey),
        deps.secretsKey,
      ),
      previousWebhookSecretExpiresAt: expiresAt,
    });
    if (replaced) return { webhook_secret: secret, previous_secret_expires_at: expiresAt.toISOString() };
    if (attempt >= 5) throw new Error("the webhook secret is being changed concurrently; try again");
  }
}

const BATCH = 500;

/**
 * Encrypts the plaintext secrets a database from before encryption still holds; returns how many
 * values it encrypted. Idempotent (encrypted values are never selected again) and safe in several
 * processes at once: a value is replaced only while it still is the plaintext this process read
 * (compare-and-set), so when another process or a rotation got there first, nothing happens.
 */
export async function encryptLegacyWebhookSecrets(prisma: Prisma, key: Buffer): Promise<number> {
  let encrypted = 0;
  let after: string | undefined;
  for (;;) {
    const rows = await findOrganizationsWithSecretPrefix(prisma, WEBHOOK_SECRET_PREFIX, after, BATCH);
    for (const { id, webhookSecret, previousWebhookSecret } of rows) {
      if (isPlaintextWebhookSecret(webhookSecret)) {
        if (
          await replaceStoredSecret(prisma, id, "webhookSecret", webhookSecret, sealWebhookSecret(webhookSecret, key))
        )
          encrypted++;
      }
      if (previousWebhookSecret !== null && isPlaintextWebhookSecret(previousWebhookSecret)) {
        if (
          await replaceStoredSecret(
            prisma,
            id,
            "previousWebhookSecret",
            previousWebhookSecret,
            sealWebhookSecret(previousWebhookSecret, key),
          )
        )
          encrypted++;
      }
    }
    if (rows.length < BATCH) return encrypted;
    after = rows.at(-1)!.id;
  }
}
