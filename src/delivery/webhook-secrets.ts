// Webhook signing secrets at rest. organizations.webhook_secret and previous_webhook_secret hold
// the secret encrypted like every other stored secret (encryptSecret, AES-256-GCM under
// SECRETS_KEY); whatever writes or reads those columns goes through sealWebhookSecret and
// openWebhookSecret, and nothing else touches them.
//
// Databases from before encryption hold plaintext `whsec_…` values. openWebhookSecret still reads
// them as they are (so nothing breaks mid-upgrade), every write stores an encrypted value, and
// encryptLegacyWebhookSecrets, run at start alongside the migrations, encrypts what is left.
import type { Prisma } from "../db/client.js";
import { decryptSecret, encryptSecret } from "./crypto.js";
import { WEBHOOK_SECRET_PREFIX } from "./signing.js";

/** Whether a stored value is a plaintext secret from before encryption (encrypted ones start `v1:`). */
export function isPlaintextWebhookSecret(stored: string): boolean {
  return stored.startsWith(WEBHOOK_SECRET_PREFIX);
}

/** The stored form of a signing secret. Refuses anything that is not a `whsec_…` secret (an already sealed value, say). */
export function sealWebhookSecret(secret: string, key: Buffer): string {
  if (!isPlaintextWebhookSecret(secret)) throw new Error(`not a webhook signing secret (expected ${WEBHOOK_SECRET_PREFIX}…)`);
  return encryptSecret(secret, key);
}

/** The secret from its stored form: decrypted, or a legacy plaintext value as it is. Throws on a wrong key. */
export function openWebhookSecret(stored: string, key: Buffer): string {
  return isPlaintextWebhookSecret(stored) ? stored : decryptSecret(stored, key);
}

const BATCH = 500;

/**
 * Encrypts the plaintext secrets a database from before encryption still holds; returns how many
 * values it encrypted. Idempotent (encrypted values are never selected again) and safe in several
 * processes at once: a value is replaced only while it still is the plaintext this process read
 * (compare-and-set), so when another process or a rotation got there first, nothing happens.
 */
export async function encryptLegacyWebhookSecrets(prisma: Prisma, key: Buffer): Promise<number> {
  const legacy = { startsWith: WEBHOOK_SECRET_PREFIX };
  let encrypted = 0;
  let after: string | undefined;
  for (;;) {
    const rows = await prisma.organization.findMany({
      where: { OR: [{ webhookSecret: legacy }, { previousWebhookSecret: legacy }], ...(after === undefined ? {} : { id: { gt: after } }) },
      select: { id: true, webhookSecret: true, previousWebhookSecret: true },
      orderBy: { id: "asc" },
      take: BATCH,
    });
    for (const { id, webhookSecret, previousWebhookSecret } of rows) {
      if (isPlaintextWebhookSecret(webhookSecret)) {
        const { count } = await prisma.organization.updateMany({
          where: { id, webhookSecret },
          data: { webhookSecret: sealWebhookSecret(webhookSecret, key) },
        });
        encrypted += count;
      }
      if (previousWebhookSecret !== null && isPlaintextWebhookSecret(previousWebhookSecret)) {
        const { count } = await prisma.organization.updateMany({
          where: { id, previousWebhookSecret },
          data: { previousWebhookSecret: sealWebhookSecret(previousWebhookSecret, key) },
        });
        encrypted += count;
      }
    }
    if (rows.length < BATCH) return encrypted;
    after = rows.at(-1)!.id;
  }
}
